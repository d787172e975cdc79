"""What a campaign's templates may name: the lead's data, its company, campaign variables."""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from carteiro.leads.models import Lead

# Lead columns offered to templates; an empty value is left out, so a template that names it
# fails for that recipient unless it gives a `| default(...)`.
LEAD_FIELDS = (
    "nome",
    "contato_nome",
    "documento",
    "documento_tipo",
    "status",
    "lead_id_externo",
    "origem_arquivo",
)
COMPANY_FIELDS = {"nome": "nome", "documento": "documento"}
BUILTINS = {"email", "lead", "company", "vars", "unsubscribe_url", "campaign"}
_parser = SandboxedEnvironment()


def _present(value: Any) -> bool:
    return value is not None and value != ""


def for_lead(
    lead: Lead | None,
    *,
    address: str,
    campaign_name: str,
    campaign_vars: dict[str, Any],
    unsubscribe_url: str,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    company: dict[str, Any] = {}
    if lead is not None:
        fields = {f: v for f in LEAD_FIELDS if _present(v := getattr(lead, f))}
        fields["tags"] = list(lead.tags or [])
        company = {k: v for k, f in COMPANY_FIELDS.items() if _present(v := getattr(lead, f))}
    fields["email"] = address
    return {
        **campaign_vars,
        **fields,
        "lead": fields,
        "company": company,
        "vars": campaign_vars,
        "campaign": {"name": campaign_name},
        "unsubscribe_url": unsubscribe_url,
    }


def referenced(*sources: str) -> tuple[set[str], set[str]]:
    """(top-level names, lead fields) the templates use; `lead.x` and `company.x` count as
    lead fields too."""
    names: set[str] = set()
    lead: set[str] = set()
    for source in sources:
        tree = _parser.parse(source)
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load":
                names.add(node.name)
        for attr in tree.find_all(nodes.Getattr):
            if isinstance(attr.node, nodes.Name) and attr.node.name in ("lead", "company"):
                field = attr.attr if attr.node.name == "lead" else COMPANY_FIELDS.get(attr.attr)
                if field:
                    lead.add(field)
    lead |= {n for n in names if n in LEAD_FIELDS}
    return names, lead

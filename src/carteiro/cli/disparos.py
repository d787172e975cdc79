"""`carteiro disparos`: create, list, show, cancel and requeue dispatches; the dead-letter list;
the do-not-contact list."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, fail, local_principal, open_runtime, out
from carteiro.dispatches import contact, service
from carteiro.dispatches.schemas import DisparoCreate, DisparoPayload

app = typer.Typer(
    help="Dispatches (disparos) to leads by e-mail or WhatsApp.", no_args_is_help=True
)
dnc = typer.Typer(help="The tenant's do-not-contact list.", no_args_is_help=True)
app.add_typer(dnc, name="dnc")

Canal = Literal["email", "whatsapp"]
Purpose = Literal["transacional", "cobranca", "marketing", "agendamento"]


def _variables(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--var takes name=value, not {pair!r}")
        found[name] = value
    return found


@app.command("create")
def create(
    lead_id: int = typer.Argument(..., min=1, help="The lead's id."),
    canal: Canal = typer.Option(..., "--canal", help="email or whatsapp."),
    template: str = typer.Option(..., "--template", help="WhatsApp template (registry) or label."),
    var: list[str] = typer.Option([], "--var", help="A template variable, name=value (repeat)."),
    text: str | None = typer.Option(None, "--text", help="WhatsApp free text (24 h window)."),
    subject: str | None = typer.Option(None, "--subject", help="E-mail subject."),
    body: str | None = typer.Option(None, "--body", help="E-mail body."),
    at: datetime | None = typer.Option(None, "--at", help="ISO 8601 with offset; default now."),
    purpose: Purpose = typer.Option("transacional", "--purpose"),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key"),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Queue one dispatch; the worker sends it."""
    if at is not None and at.tzinfo is None:
        fail("--at needs an offset, e.g. 2026-12-10T10:00:00-03:00")
    data = DisparoCreate(
        canal=canal,
        template=template,
        payload=DisparoPayload(variaveis=_variables(var), texto=text, assunto=subject, corpo=body),
        agendar_para=at,
        purpose=purpose,
    )
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            d, new = service.create_from(
                session,
                principal=principal,
                lead_id=lead_id,
                data=data,
                idempotency_key=idempotency_key,
                source="cli",
            )
            line = f"disparo {d.disparo_id} {d.status}, agendado {d.data_agendado.isoformat()}"
        out.print(line if new else f"{line} (existing: same idempotency key)", markup=False)


@app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status"),
    canal: Canal | None = typer.Option(None, "--canal"),
    lead_id: int | None = typer.Option(None, "--lead", min=1),
    limit: int = typer.Option(50, "--limit", min=1, max=service.MAX_LIMIT),
    offset: int = typer.Option(0, "--offset", min=0),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Dispatches, newest first."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            items, total = service.list_(
                session,
                principal=principal,
                status=status,
                canal=canal,
                lead_id=lead_id,
                limit=limit,
                offset=offset,
            )
            rows = [
                (
                    str(d.disparo_id),
                    str(d.lead_id or "-"),
                    d.canal,
                    escape(d.destino),
                    escape(d.template),
                    d.status,
                    f"{d.tentativas}/{d.max_tentativas}",
                    d.data_agendado.strftime("%Y-%m-%d %H:%M UTC"),
                    escape((d.mensagem_erro or "")[:60]),
                )
                for d in items
            ]
    if not rows:
        out.print("no dispatches")
        return
    table = Table(title=f"Dispatches ({total})")
    for column in (
        "id",
        "lead",
        "canal",
        "destino",
        "template",
        "status",
        "tent.",
        "agendado",
        "erro",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@app.command("show")
def show(
    disparo_id: int = typer.Argument(..., min=1),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """One dispatch with its event history, as JSON."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            d = service.get_or_raise(session, principal=principal, disparo_id=disparo_id)
            public = service.public(session, d, with_events=True)
    out.print_json(public.model_dump_json())


@app.command("cancel")
def cancel(
    disparo_id: int = typer.Argument(..., min=1),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Cancel a pending dispatch."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            service.cancel(session, principal=principal, disparo_id=disparo_id)
    out.print(f"disparo {disparo_id} cancelado", markup=False)


@app.command("dead")
def dead(
    limit: int = typer.Option(50, "--limit", min=1, max=service.MAX_LIMIT),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """The dead-letter list (kept 14 days)."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            rows, total = service.list_dead(session, principal=principal, limit=limit)
            lines = [
                (
                    str(d.disparo_id),
                    d.canal,
                    escape(d.destino),
                    escape(dl.motivo[:80]),
                    dl.expires_at.strftime("%Y-%m-%d"),
                    str(dl.requeued_as_id or ""),
                )
                for dl, d in rows
            ]
    if not lines:
        out.print("the dead-letter list is empty")
        return
    table = Table(title=f"Dead letters ({total})")
    for column in ("id", "canal", "destino", "motivo", "expira", "reenviado como"):
        table.add_column(column)
    for line in lines:
        table.add_row(*line)
    out.print(table)


@app.command("requeue")
def requeue(
    disparo_id: int = typer.Argument(..., min=1),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Send a dead-letter dispatch again, as a new dispatch linked to it."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            new = service.requeue(session, principal=principal, disparo_id=disparo_id)
            new_id = new.disparo_id
    out.print(f"disparo {disparo_id} requeued as {new_id}", markup=False)


@dnc.command("import")
def dnc_import(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="CSV or text, one phone or e-mail per line (first column).",
    ),
    source: str = typer.Option("import", "--source", help="e.g. nao_me_ligue"),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Import a do-not-contact list (e.g. São Paulo's Não Me Ligue export)."""
    lines = file.read_text(encoding="utf-8-sig").splitlines()
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            added, refused = contact.import_do_not_contact(
                session, tenant_id=principal.tenant_id, lines=lines, source=source[:32]
            )
    out.print(f"{added} values on the do-not-contact list", markup=False)
    if refused:
        out.print(
            f"{len(refused)} lines refused (not a phone or e-mail): " + json.dumps(refused[:10]),
            markup=False,
        )


@dnc.command("add")
def dnc_add(
    value: str = typer.Argument(..., help="A phone (any Brazilian format) or an e-mail."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            row = contact.add_do_not_contact(
                session, tenant_id=principal.tenant_id, value=value, source="cli"
            )
            stored = row.value
    out.print(f"{stored} is on the do-not-contact list", markup=False)

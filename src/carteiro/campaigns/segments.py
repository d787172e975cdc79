"""Segment definitions (an AND/OR tree or an explicit list of leads) compiled to SQLAlchemy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from carteiro.campaigns.models import CampaignRecipient
from carteiro.errors import InvalidInput
from carteiro.leads.models import CONSENT, Lead, LeadEmail
from carteiro.leads.search import escape_like
from carteiro.leads.service import _has_tag

MAX_DEPTH = 8
MAX_RULES = 200
MAX_STATIC = 50_000

# The lead columns a rule may name; "company" and "company_document" are the company the
# lead row describes (the spreadsheets carry one company per row).
FIELDS: dict[str, InstrumentedAttribute[Any]] = {
    "status": Lead.status,
    "nome": Lead.nome,
    "contato_nome": Lead.contato_nome,
    "documento": Lead.documento,
    "documento_tipo": Lead.documento_tipo,
    "lead_id_externo": Lead.lead_id_externo,
    "origem_arquivo": Lead.origem_arquivo,
    "origem_aba": Lead.origem_aba,
    "data_ingestao": Lead.data_ingestao,
    "data_ultimo_evento": Lead.data_ultimo_evento,
    "company": Lead.nome,
    "company_document": Lead.documento,
}
Scalar = str | int | float | bool | datetime | None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldRule(Config):
    type: Literal["field"] = "field"
    field: str
    op: Literal[
        "eq", "ne", "in", "not_in", "contains", "starts_with", "gt", "lt", "is_null", "not_null"
    ] = "eq"
    value: Scalar | list[Scalar] = None


class TagRule(Config):
    type: Literal["tag"] = "tag"
    tag: str = Field(min_length=1, max_length=64)
    present: bool = True


class ConsentRule(Config):
    type: Literal["consent"] = "consent"
    value: Literal["unknown", "opt_in", "opt_out"]


class EngagementRule(Config):
    """Whether the lead was sent, opened, clicked or replied to a campaign (any when null)."""

    type: Literal["engagement"] = "engagement"
    action: Literal["sent", "opened", "clicked", "replied"]
    campaign_id: int | None = Field(default=None, ge=1)
    negate: bool = False


class NoOpenRule(Config):
    """No open of any campaign in the last `days` days."""

    type: Literal["no_open_in"] = "no_open_in"
    days: int = Field(ge=1, le=3650)


class Group(Config):
    type: Literal["and", "or"]
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)


Rule = Annotated[
    FieldRule | TagRule | ConsentRule | EngagementRule | NoOpenRule | Group,
    Field(discriminator="type"),
]
Group.model_rebuild()


class RulesDefinition(Config):
    kind: Literal["rules"] = "rules"
    rule: Rule


class StaticDefinition(Config):
    kind: Literal["static"] = "static"
    lead_ids: list[Annotated[int, Field(ge=1)]] = Field(max_length=MAX_STATIC)


Definition = Annotated[RulesDefinition | StaticDefinition, Field(discriminator="kind")]

_ACTIONS = {
    "sent": CampaignRecipient.sent_at,
    "opened": CampaignRecipient.first_open_at,
    "clicked": CampaignRecipient.first_click_at,
    "replied": CampaignRecipient.replied_at,
}


def _field(session: Session, rule: FieldRule, path: str) -> ColumnElement[bool]:
    column = FIELDS.get(rule.field)
    if column is None:
        known = ", ".join(sorted(FIELDS))
        raise InvalidInput(
            f"unknown field '{rule.field}'; a rule may name {known}", field=f"{path}.field"
        )
    value = rule.value
    if rule.op == "is_null":
        return column.is_(None)
    if rule.op == "not_null":
        return column.is_not(None)
    if rule.op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"'{rule.op}' takes a non-empty list", field=f"{path}.value")
        return column.in_(value) if rule.op == "in" else column.not_in(value)
    if isinstance(value, list) or value is None:
        raise InvalidInput(f"'{rule.op}' takes one value", field=f"{path}.value")
    if rule.op in ("contains", "starts_with"):
        text = escape_like(str(value))
        pattern = f"%{text}%" if rule.op == "contains" else f"{text}%"
        return column.ilike(pattern, escape="\\")
    ops = {"eq": column.__eq__, "ne": column.__ne__, "gt": column.__gt__, "lt": column.__lt__}
    compared: ColumnElement[bool] = ops[rule.op](value)
    return compared


def _engaged(action: str, campaign_id: int | None) -> ColumnElement[bool]:
    terms = [CampaignRecipient.lead_id == Lead.lead_id, _ACTIONS[action].is_not(None)]
    if campaign_id is not None:
        terms.append(CampaignRecipient.campaign_id == campaign_id)
    return exists().where(*terms)


def _compile(
    session: Session, rule: Any, path: str, depth: int, now: datetime
) -> ColumnElement[bool]:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"groups nest at most {MAX_DEPTH} deep", field=path)
    if isinstance(rule, Group):
        parts = [
            _compile(session, r, f"{path}.rules[{i}]", depth + 1, now)
            for i, r in enumerate(rule.rules)
        ]
        return and_(*parts) if rule.type == "and" else or_(*parts)
    if isinstance(rule, FieldRule):
        return _field(session, rule, path)
    if isinstance(rule, TagRule):
        has: ColumnElement[bool] = _has_tag(session, rule.tag)
        return has if rule.present else not_(has)
    if isinstance(rule, ConsentRule):
        assert rule.value in CONSENT
        # An alias: the audience query joins lead_emails itself.
        other = aliased(LeadEmail)
        return exists().where(other.lead_id == Lead.lead_id, other.consentimento == rule.value)
    if isinstance(rule, EngagementRule):
        engaged = _engaged(rule.action, rule.campaign_id)
        return not_(engaged) if rule.negate else engaged
    if isinstance(rule, NoOpenRule):
        since = now - timedelta(days=rule.days)
        return not_(
            exists().where(
                CampaignRecipient.lead_id == Lead.lead_id,
                CampaignRecipient.first_open_at >= since,
            )
        )
    raise InvalidInput("unknown rule type", field=f"{path}.type")


def where(
    session: Session, *, tenant_id: int, definition: Any, now: datetime, path: str = "definition"
) -> ColumnElement[bool]:
    """The WHERE clause over `leads` that selects the segment's leads of the tenant."""
    base = Lead.tenant_id == tenant_id
    if isinstance(definition, StaticDefinition):
        if not definition.lead_ids:
            return false()
        return and_(base, Lead.lead_id.in_(definition.lead_ids))
    if isinstance(definition, RulesDefinition):
        return and_(base, _compile(session, definition.rule, f"{path}.rule", 1, now))
    # Never "everyone": an unparsed definition reaching here is a bug, not an audience.
    raise TypeError(f"a parsed segment definition is needed, not {type(definition).__name__}")


def mailable() -> ColumnElement[bool]:
    """The lead e-mails a campaign may use (consent and suppression are checked apart)."""
    return LeadEmail.valido_para_disparo.is_(True)


def lead_ids(
    session: Session, *, tenant_id: int, definition: Any, now: datetime, limit: int
) -> list[int]:
    clause = where(session, tenant_id=tenant_id, definition=definition, now=now)
    stmt = select(Lead.lead_id).where(clause).order_by(Lead.lead_id).limit(limit)
    return list(session.scalars(stmt))

"""LGPD consent per e-mail address: record it, and answer whether an address may be mailed.

Consent belongs to the address, not to one lead row: recording it updates every lead of the
tenant that has the address, and an opt-out on any of them blocks mailing it. Only opt-outs are
checked here; a suppression list (bounces, complaints) is a separate, deliverability concern.
"""

from __future__ import annotations

from sqlalchemy import String, any_, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Exists

from carteiro.db.types import utcnow
from carteiro.errors import NotFound
from carteiro.leads.models import Lead, LeadEmail

OPT_OUT = "opt_out"


def emails_of(session: Session, *, lead_id: int) -> list[LeadEmail]:
    stmt = (
        select(LeadEmail)
        .where(LeadEmail.lead_id == lead_id)
        .order_by(LeadEmail.email_principal.desc(), LeadEmail.email_id)
    )
    return list(session.scalars(stmt))


def get_email_or_raise(
    session: Session, *, tenant_id: int, lead_id: int, email_id: int
) -> LeadEmail:
    row = session.get(LeadEmail, email_id)
    if row is None or row.tenant_id != tenant_id or row.lead_id != lead_id:
        raise NotFound(f"e-mail {email_id} of lead {lead_id} not found")
    return row


def set_consent(
    session: Session,
    *,
    tenant_id: int,
    lead_id: int,
    email_id: int,
    consentimento: str,
    origem: str | None = None,
) -> LeadEmail:
    """Records consent (unknown, opt_in, opt_out) for the address on every lead that has it."""
    row = get_email_or_raise(session, tenant_id=tenant_id, lead_id=lead_id, email_id=email_id)
    now = utcnow()
    session.execute(
        update(LeadEmail)
        .where(LeadEmail.tenant_id == tenant_id, LeadEmail.email == row.email)
        .values(consentimento=consentimento, consentimento_origem=origem, consentimento_em=now),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Lead)
        .where(Lead.lead_id == lead_id, Lead.tenant_id == tenant_id)
        .values(data_ultimo_evento=now),
        execution_options={"synchronize_session": False},
    )
    session.refresh(row)
    return row


def _opted_out(tenant_id: int, address: object) -> Exists:
    other = aliased(LeadEmail)
    return exists().where(
        other.tenant_id == tenant_id, other.email == address, other.consentimento == OPT_OUT
    )


def is_mailable(session: Session, *, tenant_id: int, email: str) -> bool:
    """False when the address opted out on any of the tenant's leads (opt-out only: see above)."""
    address = email.strip().lower()
    return not session.scalar(select(_opted_out(tenant_id, address)))


def sendable_lead_emails(session: Session, *, tenant_id: int, lead_id: int) -> list[LeadEmail]:
    """The lead's addresses that bulk sends and dispatches may use, main address first."""
    stmt = (
        select(LeadEmail)
        .where(
            LeadEmail.tenant_id == tenant_id,
            LeadEmail.lead_id == lead_id,
            LeadEmail.valido_para_disparo.is_(True),
            ~_opted_out(tenant_id, LeadEmail.email),
        )
        .order_by(LeadEmail.email_principal.desc(), LeadEmail.email_id)
    )
    return list(session.scalars(stmt))


def opted_out(session: Session, *, tenant_id: int, addresses: list[str]) -> set[str]:
    """Which of `addresses` opted out on any of the tenant's leads; one query for a batch."""
    if not addresses:
        return set()
    lowered = {a.strip().lower(): a for a in addresses}
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter instead of thousands: the driver spent longer splitting a
        # 5,000-placeholder query than the server spent answering it.
        match = LeadEmail.email == any_(
            bindparam("emails", list(lowered), type_=postgresql.ARRAY(String))
        )
    else:
        match = LeadEmail.email.in_(list(lowered))
    rows = session.scalars(
        select(LeadEmail.email)
        .where(LeadEmail.tenant_id == tenant_id, match, LeadEmail.consentimento == OPT_OUT)
        .distinct()
    )
    return {lowered[r] for r in rows if r in lowered}

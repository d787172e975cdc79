"""Reading and updating leads: list with filters, detail with messages, status and tags."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, column, exists, func, literal_column, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import InvalidInput, NotFound
from carteiro.leads import search
from carteiro.leads.consent import emails_of
from carteiro.leads.models import CONSENT, Lead, LeadEmail, LeadTelefone
from carteiro.leads.schemas import (
    LeadDetail,
    LeadEmailPublic,
    LeadMessage,
    LeadPage,
    LeadSummary,
    LeadTelefonePublic,
    LeadUpdate,
)
from carteiro.outbound.models import Email

MAX_PAGE = 500
MAX_MESSAGES = 50
# Addresses looked for in outbound mail per lead; each adds a LIKE to the query.
MAX_ADDRESSES = 20
MAX_TAG_CHARS = 64
# A literal, not a parameter: SQLite uses a partial index only for a condition it can prove.
_SEVERAL: ColumnElement[str] = literal_column("'%,%'")


def _has_tag(session: Session, tag: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Lead.tags, JSONB).contains([tag])
    values = func.json_each(Lead.tags).table_valued("value")
    return exists(select(1).select_from(values).where(column("value") == tag))


@dataclass(frozen=True)
class LeadFilter:
    """The leads list's filters (the console keeps them in the URL; export reuses them).

    `consent` keeps leads with an address in that consent state; `company` matches part of
    the lead's name (the company, `nome`)."""

    status: str | None = None
    tag: str | None = None
    q: str | None = None
    has_email: bool | None = None
    has_phone: bool | None = None
    consent: str | None = None
    company: str | None = None


def conditions(session: Session, *, tenant_id: int, filter: LeadFilter) -> list[Any]:
    """The WHERE terms for the tenant's leads matching `filter`."""
    f = filter
    where: list[Any] = [Lead.tenant_id == tenant_id]
    if f.consent is not None:
        if f.consent not in CONSENT:
            raise InvalidInput(f"consent must be one of {', '.join(CONSENT)}", field="consent")
        # One range of ix_lead_emails_tenant_consent (an EXISTS per lead read every lead).
        where.append(
            Lead.lead_id.in_(
                select(LeadEmail.lead_id).where(
                    LeadEmail.tenant_id == tenant_id, LeadEmail.consentimento == f.consent
                )
            )
        )
    if f.company and f.company.strip():
        where.append(search.company_matches(session, company=f.company.strip()))
    if f.status:
        where.append(Lead.status == f.status)
    if f.tag:
        where.append(_has_tag(session, f.tag))
    if f.q and f.q.strip():
        where.append(search.matches(session, tenant_id=tenant_id, q=f.q.strip()))
    if f.has_email is not None:
        any_email = exists().where(LeadEmail.lead_id == Lead.lead_id)
        where.append(any_email if f.has_email else ~any_email)
    if f.has_phone is not None:
        any_phone = exists().where(LeadTelefone.lead_id == Lead.lead_id)
        where.append(any_phone if f.has_phone else ~any_phone)
    return where


def list_(
    session: Session,
    *,
    tenant_id: int,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    has_email: bool | None = None,
    has_phone: bool | None = None,
    consent: str | None = None,
    company: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Lead], int]:
    """The tenant's leads, newest first, with the total matching the filters (`LeadFilter`)."""
    wanted = LeadFilter(
        status=status,
        tag=tag,
        q=q,
        has_email=has_email,
        has_phone=has_phone,
        consent=consent,
        company=company,
    )
    where = conditions(session, tenant_id=tenant_id, filter=wanted)
    total = session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0
    # The page's ids first (an index holds them in order), then those rows: sorting whole rows
    # made SQLite read every lead of the tenant into a temporary tree.
    ids = list(
        session.scalars(
            select(Lead.lead_id)
            .where(*where)
            .order_by(Lead.lead_id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    if not ids:
        return [], total
    rows = session.scalars(select(Lead).where(Lead.lead_id.in_(ids)))
    return sorted(rows, key=lambda lead: lead.lead_id, reverse=True), total


def get(session: Session, *, tenant_id: int, lead_id: int) -> Lead | None:
    lead = session.get(Lead, lead_id)
    return lead if lead is not None and lead.tenant_id == tenant_id else None


def get_or_raise(session: Session, *, tenant_id: int, lead_id: int) -> Lead:
    lead = get(session, tenant_id=tenant_id, lead_id=lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found")
    return lead


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for i, raw in enumerate(tags):
        tag = " ".join(raw.split())
        if not tag or len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(f"tags[{i}] must be 1 to {MAX_TAG_CHARS} characters", field="tags")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def update(session: Session, *, tenant_id: int, lead_id: int, data: LeadUpdate) -> Lead:
    """Changes a lead's status and/or tags (the fields a re-import never overwrites)."""
    lead = get_or_raise(session, tenant_id=tenant_id, lead_id=lead_id)
    if data.status is not None:
        lead.status = data.status
    if data.tags is not None:
        lead.tags = _clean_tags(data.tags)
    lead.updated_at = utcnow()
    lead.data_ultimo_evento = lead.updated_at
    session.flush()
    return lead


def principal_contacts(session: Session, ids: list[int]) -> tuple[dict[int, str], dict[int, str]]:
    if not ids:
        return {}, {}
    emails = session.execute(
        select(LeadEmail.lead_id, LeadEmail.email).where(
            LeadEmail.lead_id.in_(ids), LeadEmail.email_principal.is_(True)
        )
    ).all()
    phones = session.execute(
        select(LeadTelefone.lead_id, LeadTelefone.telefone).where(
            LeadTelefone.lead_id.in_(ids), LeadTelefone.telefone_principal.is_(True)
        )
    ).all()
    return dict(emails), dict(phones)


def _summary_fields(lead: Lead, email: str | None, phone: str | None) -> dict[str, Any]:
    return {
        "lead_id": lead.lead_id,
        "lead_id_externo": lead.lead_id_externo,
        "nome": lead.nome,
        "contato_nome": lead.contato_nome,
        "documento": lead.documento,
        "documento_tipo": lead.documento_tipo,
        "status": lead.status,
        "tags": list(lead.tags or []),
        "email_principal": email,
        "telefone_principal": phone,
        "data_ingestao": lead.data_ingestao,
    }


def public_page(
    session: Session, leads: list[Lead], *, total: int, limit: int, offset: int
) -> LeadPage:
    emails, phones = principal_contacts(session, [lead.lead_id for lead in leads])
    items = [
        LeadSummary(**_summary_fields(lead, emails.get(lead.lead_id), phones.get(lead.lead_id)))
        for lead in leads
    ]
    return LeadPage(items=items, total=total, limit=limit, offset=offset)


def _message_columns() -> Any:
    return select(
        Email.id,
        Email.status,
        Email.to_email,
        Email.to_emails,
        Email.subject,
        Email.message_id,
        Email.created_at,
        Email.sent_at,
    )


def messages_to(
    session: Session,
    *,
    tenant_id: int,
    addresses: list[str],
    account_ids: Collection[int] | None = None,
) -> list[LeadMessage]:
    """The newest outbound e-mails with one of `addresses` among their To recipients
    (`account_ids`: only mail of those accounts, for a person granted some mailboxes).

    Mail to one address is found by its whole lower-cased To line (an index range per
    address); mail to several To addresses, which a partial index keeps apart, by a
    substring of the line checked against the parsed list.
    """
    wanted = {a.lower() for a in addresses[:MAX_ADDRESSES]}
    if not wanted:
        return []
    newest = (Email.created_at.desc(), Email.id.desc())
    mine = [] if account_ids is None else [Email.account_id.in_(sorted(account_ids))]
    single = (
        _message_columns()
        .where(Email.tenant_id == tenant_id, func.lower(Email.to_email).in_(sorted(wanted)), *mine)
        .order_by(*newest)
        .limit(MAX_MESSAGES)
    )
    likes = [func.lower(Email.to_email).contains(a, autoescape=True) for a in sorted(wanted)]
    several = (
        _message_columns()
        # Spelled as the partial index ix_emails_tenant_multi_to spells its condition.
        .where(Email.tenant_id == tenant_id, Email.to_email.like(_SEVERAL), or_(*likes), *mine)
        .order_by(*newest)
        .limit(MAX_MESSAGES * 4)
    )
    rows = [*session.execute(single)]
    rows += [
        row
        for row in session.execute(several)
        if wanted & {str(a).lower() for a in row.to_emails or []}
    ]
    rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
    return [
        LeadMessage(
            id=row.id,
            status=row.status,
            to_email=row.to_email,
            subject=row.subject,
            message_id=row.message_id,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )
        for row in rows[:MAX_MESSAGES]
    ]


def detail(
    session: Session, lead: Lead, *, account_ids: Collection[int] | None = None
) -> LeadDetail:
    """A lead with its e-mails (and consent), phones and the messages sent to it (through
    the accounts `account_ids` only, when given)."""
    emails = emails_of(session, lead_id=lead.lead_id)
    phones = list(
        session.scalars(
            select(LeadTelefone)
            .where(LeadTelefone.lead_id == lead.lead_id)
            .order_by(LeadTelefone.telefone_principal.desc(), LeadTelefone.telefone_id)
        )
    )
    principal_email = next((e.email for e in emails if e.email_principal), None)
    principal_phone = next((p.telefone for p in phones if p.telefone_principal), None)
    return LeadDetail(
        **_summary_fields(lead, principal_email, principal_phone),
        origem_arquivo=lead.origem_arquivo,
        origem_aba=lead.origem_aba,
        linha_planilha=lead.linha_planilha,
        documento_valido=lead.documento_valido,
        documento_raw=lead.documento_raw,
        email_raw=lead.email_raw,
        telefone_raw=lead.telefone_raw,
        data_ultimo_evento=lead.data_ultimo_evento,
        updated_at=lead.updated_at,
        emails=[email_public(e) for e in emails],
        telefones=[
            LeadTelefonePublic(
                telefone_id=p.telefone_id,
                telefone=p.telefone,
                telefone_principal=p.telefone_principal,
                tipo=p.tipo,
                tipo_origem=p.tipo_origem,
                valido_para_disparo=p.valido_para_disparo,
            )
            for p in phones
        ],
        mensagens=messages_to(
            session,
            tenant_id=lead.tenant_id,
            addresses=[e.email for e in emails],
            account_ids=account_ids,
        ),
    )


def email_public(e: LeadEmail) -> LeadEmailPublic:
    return LeadEmailPublic(
        email_id=e.email_id,
        email=e.email,
        email_principal=e.email_principal,
        valido_para_disparo=e.valido_para_disparo,
        consentimento=e.consentimento,
        consentimento_origem=e.consentimento_origem,
        consentimento_em=e.consentimento_em,
    )

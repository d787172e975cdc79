"""Lead search by substring (name, contact, e-mail, phone, document) served by trigram indexes."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, column, exists, or_, select, table, union_all
from sqlalchemy.orm import Session

from carteiro.leads.models import Lead, LeadEmail, LeadTelefone

# Trigram indexes (FTS5's trigram tokenizer, pg_trgm) can only serve substrings this long;
# shorter ones are matched by reading the tenant's leads.
MIN_INDEXED_CHARS = 3
_DIGITS = re.compile(r"\D+")

# The FTS5 tables migration 0016 keeps in step with these tables by triggers (SQLite only).
_LEADS_FTS = table("leads_fts", column("rowid"), column("leads_fts"))
_EMAILS_FTS = table("lead_emails_fts", column("rowid"), column("lead_emails_fts"))
_PHONES_FTS = table("lead_telefones_fts", column("rowid"), column("lead_telefones_fts"))


def escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def digits_of(q: str) -> str:
    return _DIGITS.sub("", q)


def scan(q: str) -> ColumnElement[bool]:
    """What a search means, as one condition on a lead: a case-insensitive substring of its
    name, contact name or one of its e-mails, its external id exactly, or (3+ digits) the
    digits as a substring of its document or one of its phones."""
    pattern = f"%{escape_like(q)}%"
    conditions: list[ColumnElement[bool]] = [
        Lead.nome.ilike(pattern, escape="\\"),
        Lead.contato_nome.ilike(pattern, escape="\\"),
        Lead.lead_id_externo == q,
        exists().where(
            LeadEmail.lead_id == Lead.lead_id, LeadEmail.email.like(pattern.lower(), escape="\\")
        ),
    ]
    digits = digits_of(q)
    if len(digits) >= MIN_INDEXED_CHARS:
        conditions.append(Lead.documento.like(f"%{digits}%"))
        conditions.append(
            exists().where(
                LeadTelefone.lead_id == Lead.lead_id, LeadTelefone.telefone.like(f"%{digits}%")
            )
        )
    return or_(*conditions)


def _phrase(text: str) -> str:
    """An FTS5 phrase matching `text` literally (a substring, with the trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def _sqlite_candidates(tenant_id: int, q: str) -> Any:
    """Lead ids that may match (a superset: FTS5 folds case beyond ASCII, LIKE does not)."""
    digits = digits_of(q)
    on_lead = f"{{nome contato_nome}} : {_phrase(q)}"
    if len(digits) >= MIN_INDEXED_CHARS:
        on_lead += f" OR documento : {_phrase(digits)}"
    parts = [
        select(_LEADS_FTS.c.rowid).where(_LEADS_FTS.c.leads_fts.match(on_lead)),
        select(Lead.lead_id).where(Lead.tenant_id == tenant_id, Lead.lead_id_externo == q),
        select(LeadEmail.lead_id).where(
            LeadEmail.email_id.in_(
                select(_EMAILS_FTS.c.rowid).where(
                    _EMAILS_FTS.c.lead_emails_fts.match(_phrase(q.lower()))
                )
            )
        ),
    ]
    if len(digits) >= MIN_INDEXED_CHARS:
        parts.append(
            select(LeadTelefone.lead_id).where(
                LeadTelefone.telefone_id.in_(
                    select(_PHONES_FTS.c.rowid).where(
                        _PHONES_FTS.c.lead_telefones_fts.match(_phrase(digits))
                    )
                )
            )
        )
    return union_all(*parts)


def _postgresql_candidates(tenant_id: int, q: str) -> Any:
    """The matching lead ids, one indexed branch per table (an OR across EXISTS subqueries
    would make PostgreSQL read every lead instead of combining the trigram indexes)."""
    pattern = f"%{escape_like(q)}%"
    digits = digits_of(q)
    on_lead: list[ColumnElement[bool]] = [
        Lead.nome.ilike(pattern, escape="\\"),
        Lead.contato_nome.ilike(pattern, escape="\\"),
        Lead.lead_id_externo == q,
    ]
    if len(digits) >= MIN_INDEXED_CHARS:
        on_lead.append(Lead.documento.like(f"%{digits}%"))
    parts = [
        select(Lead.lead_id).where(Lead.tenant_id == tenant_id, or_(*on_lead)),
        select(LeadEmail.lead_id).where(
            LeadEmail.tenant_id == tenant_id, LeadEmail.email.like(pattern.lower(), escape="\\")
        ),
    ]
    if len(digits) >= MIN_INDEXED_CHARS:
        parts.append(
            select(LeadTelefone.lead_id).where(
                LeadTelefone.tenant_id == tenant_id, LeadTelefone.telefone.like(f"%{digits}%")
            )
        )
    return union_all(*parts)


def matches(session: Session, *, tenant_id: int, q: str) -> ColumnElement[bool]:
    """The condition for leads matching the search `q` (see `scan`), through the indexes."""
    if len(q) < MIN_INDEXED_CHARS:
        return scan(q)
    if session.get_bind().dialect.name == "postgresql":
        return Lead.lead_id.in_(_postgresql_candidates(tenant_id, q))
    # The candidates from the FTS tables, then the exact condition on those few rows.
    return Lead.lead_id.in_(_sqlite_candidates(tenant_id, q)) & scan(q)


def company_matches(session: Session, *, company: str) -> ColumnElement[bool]:
    """Leads whose name (the company) holds `company`, case-insensitively."""
    exact = Lead.nome.ilike(f"%{escape_like(company)}%", escape="\\")
    if len(company) < MIN_INDEXED_CHARS or session.get_bind().dialect.name != "sqlite":
        return exact  # PostgreSQL's trigram index serves the ILIKE itself
    found = select(_LEADS_FTS.c.rowid).where(
        _LEADS_FTS.c.leads_fts.match(f"nome : {_phrase(company)}")
    )
    return Lead.lead_id.in_(found) & exact

"""Leads as CSV: the rows matching a filter, streamed in chunks, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select

from carteiro.db.engine import Database
from carteiro.leads.models import Lead
from carteiro.leads.service import LeadFilter, conditions, principal_contacts

CHUNK = 1000
COLUMNS = (
    "lead_id",
    "lead_id_externo",
    "nome",
    "contato_nome",
    "documento",
    "documento_tipo",
    "status",
    "tags",
    "email_principal",
    "telefone_principal",
    "data_ingestao",
)
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    # Phones in E.164 (+5511…) and negative numbers stay as they are.
    return text[:1] in "+-" and text[1:].isdigit()


def _line(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return out.getvalue()


def _row(lead: Lead, email: str | None, phone: str | None) -> str:
    return _line(
        [
            lead.lead_id,
            lead.lead_id_externo,
            lead.nome,
            lead.contato_nome,
            lead.documento,
            lead.documento_tipo,
            lead.status,
            ", ".join(lead.tags or []),
            email,
            phone,
            lead.data_ingestao.isoformat(),
        ]
    )


def _chunk(
    db: Database, *, tenant_id: int, filter: LeadFilter, before: int | None
) -> tuple[list[str], int | None]:
    """Up to CHUNK lines below lead id `before`, and where the next chunk starts (None: done)."""
    with db.session() as session:
        where = conditions(session, tenant_id=tenant_id, filter=filter)
        if before is not None:
            where.append(Lead.lead_id < before)
        stmt = select(Lead).where(*where).order_by(Lead.lead_id.desc()).limit(CHUNK)
        leads = list(session.scalars(stmt))
        emails, phones = principal_contacts(session, [lead.lead_id for lead in leads])
        lines = [_row(lead, emails.get(lead.lead_id), phones.get(lead.lead_id)) for lead in leads]
    return lines, (leads[-1].lead_id if len(leads) == CHUNK else None)


def csv_lines(db: Database, *, tenant_id: int, filter: LeadFilter) -> Iterator[str]:
    """The header, then one line per matching lead (newest first), each chunk read in a short
    transaction of its own (keyset by lead_id), so a large export holds no long transaction.

    The first chunk is read now, so that a bad filter fails before any line is sent."""
    lines, following = _chunk(db, tenant_id=tenant_id, filter=filter, before=None)
    return _stream(db, tenant_id, filter, lines, following)


def _stream(
    db: Database, tenant_id: int, filter: LeadFilter, lines: list[str], following: int | None
) -> Iterator[str]:
    # The byte-order mark makes Excel read the file as UTF-8 (accents in names).
    yield "\ufeff" + _line(list(COLUMNS))
    yield from lines
    while following is not None:
        lines, following = _chunk(db, tenant_id=tenant_id, filter=filter, before=following)
        yield from lines

"""May this lead be contacted: consent per (lead, channel, purpose), do-not-contact, caps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.dispatches.models import ContactConsent, Disparo, DoNotContact
from carteiro.dispatches.schemas import ConsentCreate
from carteiro.errors import InvalidInput
from carteiro.leads import normalize


def record_consent(
    session: Session, *, tenant_id: int, lead_id: int, data: ConsentCreate
) -> ContactConsent:
    """The latest word for (lead, channel, purpose): its legal basis and the evidence."""
    row = session.scalar(
        select(ContactConsent).where(
            ContactConsent.tenant_id == tenant_id,
            ContactConsent.lead_id == lead_id,
            ContactConsent.canal == data.canal,
            ContactConsent.purpose == data.purpose,
        )
    )
    if row is None:
        row = ContactConsent(
            tenant_id=tenant_id, lead_id=lead_id, canal=data.canal, purpose=data.purpose
        )
        session.add(row)
    row.granted, row.legal_basis, row.evidence = data.granted, data.legal_basis, data.evidence
    row.recorded_at = utcnow()
    session.flush()
    return row


def consents_of(session: Session, *, tenant_id: int, lead_id: int) -> list[ContactConsent]:
    stmt = select(ContactConsent).where(
        ContactConsent.tenant_id == tenant_id, ContactConsent.lead_id == lead_id
    )
    return list(session.scalars(stmt.order_by(ContactConsent.canal, ContactConsent.purpose)))


def consent_refusal(
    session: Session, *, tenant_id: int, lead_id: int, canal: str, purpose: str
) -> str | None:
    """Why this purpose may not use this channel, or None. Marketing needs a recorded grant;
    any purpose stops at a recorded refusal (an opt-out)."""
    row = session.scalar(
        select(ContactConsent).where(
            ContactConsent.tenant_id == tenant_id,
            ContactConsent.lead_id == lead_id,
            ContactConsent.canal == canal,
            ContactConsent.purpose == purpose,
        )
    )
    return refusal_of(row, canal=canal, purpose=purpose)


def consents_for(
    session: Session, *, lead_ids: Iterable[int]
) -> dict[tuple[int, int, str, str], ContactConsent]:
    """The consent rows of many leads at once, by (tenant, lead, channel, purpose)."""
    ids = set(lead_ids)
    if not ids:
        return {}
    rows = session.scalars(select(ContactConsent).where(ContactConsent.lead_id.in_(ids)))
    return {(r.tenant_id, r.lead_id, r.canal, r.purpose): r for r in rows}


def refusal_of(row: ContactConsent | None, *, canal: str, purpose: str) -> str | None:
    """`consent_refusal` for a consent row already read (None: nothing recorded)."""
    if row is not None and not row.granted:
        return f"the lead refused {purpose} messages by {canal} (LGPD consent)"
    if purpose == "marketing" and row is None:
        return f"marketing by {canal} needs the lead's recorded consent (LGPD art. 7 I)"
    return None


def canonical(value: str) -> str:
    """E-mail lower-cased; phones as E.164 digits with '+'."""
    value = value.strip()
    if "@" in value:
        return value.lower()
    phone = normalize.normalise_phone(value)
    if phone is None:
        raise InvalidInput(f"{value} is neither an e-mail nor a phone number", field="value")
    return phone[0]


def add_do_not_contact(
    session: Session, *, tenant_id: int, value: str, source: str, reason: str | None = None
) -> DoNotContact:
    key = canonical(value)
    row = session.scalar(
        select(DoNotContact).where(DoNotContact.tenant_id == tenant_id, DoNotContact.value == key)
    )
    if row is None:
        row = DoNotContact(tenant_id=tenant_id, value=key, source=source, reason=reason)
        session.add(row)
        session.flush()
    return row


def import_do_not_contact(
    session: Session, *, tenant_id: int, lines: Iterable[str], source: str
) -> tuple[int, list[str]]:
    """Adds each value of a one-column CSV (or plain list); returns (added or kept, refused)."""
    added, refused = 0, []
    for row in csv.reader(io.StringIO("\n".join(lines))):
        if not row or not row[0].strip() or row[0].strip().lower() in ("telefone", "value"):
            continue
        try:
            add_do_not_contact(session, tenant_id=tenant_id, value=row[0], source=source)
            added += 1
        except InvalidInput:
            refused.append(row[0])
    return added, refused


def remove_do_not_contact(session: Session, *, tenant_id: int, value: str) -> bool:
    row = session.scalar(
        select(DoNotContact).where(
            DoNotContact.tenant_id == tenant_id, DoNotContact.value == canonical(value)
        )
    )
    if row is None:
        return False
    session.delete(row)
    return True


def list_do_not_contact(
    session: Session, *, tenant_id: int, limit: int = 100, offset: int = 0
) -> list[DoNotContact]:
    stmt = select(DoNotContact).where(DoNotContact.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(DoNotContact.id).limit(limit).offset(offset)))


def blocking_key(value: str) -> str:
    return value.strip().lower() if "@" in value else value.strip()


def is_blocked(session: Session, *, tenant_id: int, value: str) -> bool:
    stmt = select(DoNotContact.id).where(
        DoNotContact.tenant_id == tenant_id, DoNotContact.value == blocking_key(value)
    )
    return session.scalar(stmt.limit(1)) is not None


def blocked_among(session: Session, *, values: Iterable[str]) -> set[tuple[int, str]]:
    """Which of many values are on a do-not-contact list, as (tenant, key), in one query."""
    keys = {blocking_key(v) for v in values}
    if not keys:
        return set()
    stmt = select(DoNotContact.tenant_id, DoNotContact.value).where(DoNotContact.value.in_(keys))
    return {(t, v) for t, v in session.execute(stmt)}


def sent_recently(
    session: Session, *, tenant_id: int, lead_id: int, purpose: str, now: datetime
) -> int:
    """Dispatches of this purpose that reached the lead in the last 24 h."""
    stmt = select(func.count()).where(
        Disparo.tenant_id == tenant_id,
        Disparo.lead_id == lead_id,
        Disparo.purpose == purpose,
        Disparo.data_envio.is_not(None),
        Disparo.data_envio > now - timedelta(hours=24),
    )
    return int(session.scalar(stmt) or 0)

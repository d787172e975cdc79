"""The per-tenant suppression list: addresses and whole domains that must not receive mail."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carteiro.db import upsert
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, InvalidInput, NotFound
from carteiro.events.bus import Bounced
from carteiro.leads.models import Suppression
from carteiro.leads.schemas import REASONS, SuppressionPage, SuppressionPublic
from carteiro.mail.addresses import parse_address
from carteiro.mail.names import normalise_domain

MAX_PAGE = 500

log = logging.getLogger("carteiro.inbox")


def _key(address: str) -> tuple[str, str]:
    """(lower-case address, its domain) without validation: callers pass parsed addresses."""
    lowered = address.strip().lower()
    return lowered, lowered.rpartition("@")[2]


def is_suppressed(session: Session, *, tenant_id: int, addresses: list[str]) -> dict[str, str]:
    """Which of `addresses` are suppressed, with the reason; one query for the whole batch.

    A domain entry matches every address of that domain; an address entry wins over its
    domain's when both exist. Keys of the result are the addresses exactly as passed."""
    if not addresses:
        return {}
    keys = {a: _key(a) for a in addresses}
    values = {v for pair in keys.values() for v in pair if v}
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter instead of a thousand: PostgreSQL plans it much faster.
        match = Suppression.value == any_(
            bindparam("values", sorted(values), type_=postgresql.ARRAY(String))
        )
    else:
        match = Suppression.value.in_(values)
    rows = session.execute(
        select(Suppression.value, Suppression.reason).where(
            Suppression.tenant_id == tenant_id, match
        )
    ).all()
    if not rows:
        return {}
    found = dict(rows)
    result: dict[str, str] = {}
    for address, (lowered, domain) in keys.items():
        reason = found.get(lowered) or found.get(domain)
        if reason is not None:
            result[address] = reason
    return result


def _target(email: str | None, domain: str | None) -> tuple[str, str]:
    if (email is None) == (domain is None):
        raise InvalidInput("give exactly one of email or domain", field="email")
    if email is not None:
        return "email", parse_address(email, field="email").lower()
    assert domain is not None
    return "domain", normalise_domain(domain, field="domain")


def suppress(
    session: Session,
    *,
    tenant_id: int,
    email: str | None = None,
    domain: str | None = None,
    reason: str,
    source: str,
    detail: dict[str, Any] | None = None,
) -> tuple[Suppression, bool]:
    """Adds an entry; repeating it changes nothing and returns the first one.

    Returns (entry, created). Safe under concurrency: the insert ignores a conflict."""
    if reason not in REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REASONS)}", field="reason")
    kind, value = _target(email, domain)
    stmt = (
        upsert.insert(session, Suppression)
        .values(
            tenant_id=tenant_id,
            kind=kind,
            value=value,
            reason=reason,
            source=source[:32],
            detail=detail,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "value"])
        .returning(Suppression.id)
    )
    new_id = session.execute(stmt).scalar()
    row = session.scalar(
        select(Suppression).where(Suppression.tenant_id == tenant_id, Suppression.value == value)
    )
    assert row is not None
    return row, new_id is not None


def suppress_many(
    session: Session, *, tenant_id: int, emails: Iterable[str], reason: str, source: str
) -> None:
    """Suppresses already-parsed addresses in one statement (hard bounces of a batch);
    addresses already on the list keep their entry."""
    if reason not in REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REASONS)}", field="reason")
    values = {e.strip().lower() for e in emails if "@" in e}
    if not values:
        return
    now = utcnow()
    rows = [
        {
            "tenant_id": tenant_id,
            "kind": "email",
            "value": v,
            "reason": reason,
            "source": source[:32],
            "created_at": now,
        }
        for v in sorted(values)
    ]
    stmt = upsert.insert(session, Suppression).on_conflict_do_nothing(
        index_elements=["tenant_id", "value"]
    )
    session.execute(stmt, rows)


def public(row: Suppression) -> SuppressionPublic:
    return SuppressionPublic(
        id=row.id,
        email=row.value if row.kind == "email" else None,
        domain=row.value if row.kind == "domain" else None,
        reason=row.reason,
        source=row.source,
        created_at=row.created_at,
    )


def get(session: Session, *, tenant_id: int, suppression_id: int) -> Suppression | None:
    return session.scalar(
        select(Suppression).where(
            Suppression.tenant_id == tenant_id, Suppression.id == suppression_id
        )
    )


def get_or_raise(session: Session, *, tenant_id: int, suppression_id: int) -> Suppression:
    row = get(session, tenant_id=tenant_id, suppression_id=suppression_id)
    if row is None:
        raise NotFound(f"suppression {suppression_id} not found")
    return row


def find(session: Session, *, tenant_id: int, value: str) -> Suppression | None:
    """The entry for an address or a domain, as typed by a person."""
    _, normalised = _target(value, None) if "@" in value else _target(None, value)
    return session.scalar(
        select(Suppression).where(
            Suppression.tenant_id == tenant_id, Suppression.value == normalised
        )
    )


def list_(
    session: Session,
    *,
    tenant_id: int,
    reason: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Suppression], int]:
    """Newest first; `search` matches part of an address or domain."""
    if reason is not None and reason not in REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REASONS)}", field="reason")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    where = [Suppression.tenant_id == tenant_id]
    if reason is not None:
        where.append(Suppression.reason == reason)
    if search:
        escaped = (
            search.strip().lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        )
        where.append(Suppression.value.like(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count(Suppression.id)).where(*where)) or 0
    rows = session.scalars(
        select(Suppression)
        .where(*where)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def page(
    session: Session,
    *,
    tenant_id: int,
    reason: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SuppressionPage:
    rows, total = list_(
        session, tenant_id=tenant_id, reason=reason, search=search, limit=limit, offset=offset
    )
    return SuppressionPage(items=[public(r) for r in rows], total=total, limit=limit, offset=offset)


def delete(session: Session, *, tenant_id: int, suppression_id: int) -> Suppression:
    row = get_or_raise(session, tenant_id=tenant_id, suppression_id=suppression_id)
    session.delete(row)
    session.flush()
    return row


_BOUNCE_REASONS = {"hard": "hard_bounce", "complaint": "complaint"}


def on_bounce(session: Session, event: Bounced) -> None:
    """Hard bounces and complaints put the address on the suppression list; soft ones wait."""
    reason = _BOUNCE_REASONS.get(event.kind)
    if reason is None:
        return
    try:
        with session.begin_nested():
            suppress(
                session,
                tenant_id=event.tenant_id,
                email=event.address,
                reason=reason,
                source="inbox",
            )
    except (DBAPIError, CarteiroError) as exc:
        # A missing table (not migrated yet) or an address it refuses: the event stays.
        log.warning("could not suppress %s after a %s: %s", event.address, event.kind, exc)

"""Tokens per minute per tenant and provider: a token bucket in the database, for all workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.db.results import dml
from carteiro.db.upsert import insert
from carteiro.responder.models import ResponderBudget


def _row(
    session: Session, tenant_id: int, provider: str, full: float, now: datetime
) -> ResponderBudget:
    session.execute(
        insert(session, ResponderBudget)
        .values(tenant_id=tenant_id, provider=provider, tokens=full, updated_at=now)
        .on_conflict_do_nothing(index_elements=["tenant_id", "provider"])
    )
    # The row lock serialises workers of one tenant and provider (SQLite has one writer anyway).
    stmt = (
        select(ResponderBudget)
        .where(ResponderBudget.tenant_id == tenant_id, ResponderBudget.provider == provider)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def take(
    session: Session,
    *,
    tenant_id: int,
    provider: str,
    tokens: int,
    per_minute: int,
    now: datetime,
) -> float:
    """Takes `tokens` and returns 0, or takes nothing and returns the seconds until the bucket
    will hold them. The bucket holds at most a minute's budget and refills continuously; a
    request larger than that waits for a full bucket."""
    if per_minute <= 0:
        return 0.0
    rate = per_minute / 60.0
    row = _row(session, tenant_id, provider, float(per_minute), now)
    # `now` was read before the row lock: a worker that took tokens meanwhile may have moved
    # the clock past it, and going back would count that refill twice.
    now = max(now, row.updated_at)
    elapsed = (now - row.updated_at).total_seconds()
    level = min(float(per_minute), row.tokens + elapsed * rate)
    need = float(min(tokens, per_minute))
    row.updated_at = now
    if level >= need:
        row.tokens = level - need
        session.flush()
        return 0.0
    row.tokens = level
    session.flush()
    return (need - level) / rate


def settle(session: Session, *, tenant_id: int, provider: str, extra: int) -> None:
    """Charges `extra` more tokens (or refunds, when negative) once the real count is known;
    the bucket may go below zero, which delays the next calls."""
    if extra == 0:
        return
    dml(
        session,
        update(ResponderBudget)
        .where(ResponderBudget.tenant_id == tenant_id, ResponderBudget.provider == provider)
        .values(tokens=ResponderBudget.tokens - extra),
        execution_options={"synchronize_session": False},
    )

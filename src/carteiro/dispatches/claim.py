"""Claiming due dispatches with a lease, in one statement, safe in any number of processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from carteiro.db.claims import claim_rows
from carteiro.dispatches.models import Disparo


def claim(
    session: Session, *, worker_id: str, limit: int, lease_seconds: float, now: datetime
) -> list[int]:
    """Due, pending dispatches nobody holds (a dead worker's lapsed lease counts as free);
    e-mail dispatches already handed to the outbound queue are not the worker's any more."""
    due = (
        (Disparo.status == "pendente")
        & (Disparo.run_at <= now)
        & Disparo.email_message_id.is_(None)
        & or_(Disparo.lease_until.is_(None), Disparo.lease_until < now)
    )
    stmt = (
        claim_rows(
            session,
            Disparo,
            key=Disparo.disparo_id,
            where=due,
            order_by=[Disparo.run_at, Disparo.disparo_id],
            limit=limit,
        )
        .values(lease_owner=worker_id, lease_until=now + timedelta(seconds=lease_seconds))
        .returning(Disparo.disparo_id)
    )
    ids = list(session.scalars(stmt, execution_options={"synchronize_session": False}))
    return sorted(ids)


def next_due(session: Session, *, now: datetime) -> datetime | None:
    """When the soonest pending dispatch nobody holds falls due (the due index's first rows;
    the held ones before it are at most the batches in flight)."""
    return session.scalar(
        select(func.min(Disparo.run_at)).where(
            Disparo.status == "pendente",
            Disparo.email_message_id.is_(None),
            or_(Disparo.lease_until.is_(None), Disparo.lease_until < now),
        )
    )


def pause_before(soonest: datetime | None, *, now: datetime, interval: float) -> float:
    """Seconds to sleep after an idle round: until the soonest dispatch is due, at most the
    poll interval (dispatches created meanwhile wait no longer than that). One already due
    that the round left (no room on its number) waits the interval, not a busy loop."""
    if soonest is None or soonest <= now:
        return interval
    return min(interval, (soonest - now).total_seconds())

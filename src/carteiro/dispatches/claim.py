"""Claiming due dispatches with a lease, in one statement, safe in any number of processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
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

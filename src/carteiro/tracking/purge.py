"""Tracking hits' retention: classified hits older than the setting go, one process at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carteiro.db import leases
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.loops import run_in_thread_every
from carteiro.runtime import Runtime
from carteiro.tracking.models import TrackingHit

log = logging.getLogger("carteiro.tracking")
LOCK = "tracking-hit-purge"
INTERVAL = 3600.0
# Short transactions: a large backlog goes in slices, and the next round takes the rest.
SLICE = 5000
SLICES_PER_ROUND = 40


def purge_slice(session: Session, *, before: datetime, limit: int = SLICE) -> int:
    """Deletes up to `limit` of the oldest classified hits older than `before`. Ids grow with
    time, so reading them in id order stops early instead of scanning the whole table."""
    ids = list(
        session.scalars(
            select(TrackingHit.id)
            .where(TrackingHit.at < before, TrackingHit.hit_class.is_not(None))
            .order_by(TrackingHit.id)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    stmt = delete(TrackingHit).where(TrackingHit.id.in_(ids))
    return dml(session, stmt, execution_options={"synchronize_session": False}).rowcount


def purge_once(runtime: Runtime, *, now: datetime, owner: str) -> int | None:
    """One round if this process leads it (None when another one does); 0 when kept forever."""
    days = runtime.settings.tracking_retention_days
    if days <= 0:
        return 0
    before = now - timedelta(days=days)
    removed = 0
    for _ in range(SLICES_PER_ROUND):
        with runtime.db.session() as session:
            if not leases.try_lead(session, name=LOCK, owner=owner, ttl=INTERVAL * 2):
                return None if removed == 0 else removed
            done = purge_slice(session, before=before)
        removed += done
        if done < SLICE:
            break
    if removed:
        log.info("dropped %d tracking hits older than %g days", removed, days)
    return removed


async def purge_loop(
    runtime: Runtime, stop: asyncio.Event, *, clock: Callable[[], datetime] = utcnow
) -> None:
    owner = leases.worker_id()
    await run_in_thread_every(
        stop,
        INTERVAL,
        lambda: purge_once(runtime, now=clock(), owner=owner),
        error="tracking hit purge failed",
        logger=log,
    )

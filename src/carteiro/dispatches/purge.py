"""The dead-letter list's retention: entries older than 14 days go, in one process at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from carteiro.db import leases
from carteiro.db.types import utcnow
from carteiro.dispatches import inbox, service
from carteiro.loops import run_in_thread_every
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.dispatches")
LOCK = "dispatch-dead-letter-purge"
INTERVAL = 3600.0


def purge_once(runtime: Runtime, *, now: datetime, owner: str) -> int | None:
    """Purges if this process holds the singleton lock now; None when another one does."""
    days = runtime.settings.dispatch_dead_letter_days
    with runtime.db.session() as session:
        if not leases.try_lead(session, name=LOCK, owner=owner, ttl=INTERVAL * 2):
            return None
        removed = service.purge_dead_letters(session, now=now)
        inbox.purge_processed(session, now=now, keep_days=days)
    if removed:
        log.info("dropped %d dead-letter dispatches older than %g days", removed, days)
    return removed


async def purge_loop(
    runtime: Runtime, stop: asyncio.Event, *, clock: Callable[[], datetime] = utcnow
) -> None:
    owner = leases.worker_id()
    await run_in_thread_every(
        stop,
        INTERVAL,
        lambda: purge_once(runtime, now=clock(), owner=owner),
        error="dead-letter purge failed",
        logger=log,
    )

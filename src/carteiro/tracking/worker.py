"""The background loop that classifies tracking hits once they have settled."""

from __future__ import annotations

import asyncio
import logging
import time

from carteiro.db import leases as leader
from carteiro.db.leases import worker_id
from carteiro.loops import run_every, wait_or_stop
from carteiro.runtime import Runtime
from carteiro.tracking import service

log = logging.getLogger("carteiro.tracking")
BATCH = 1000


async def tracking_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Classifies and publishes settled hits until `stop`; one process at a time does it
    (a singleton lead), so any number of workers may run this loop."""
    owner = worker_id()
    settings = runtime.settings

    def once() -> bool:
        with runtime.db.session() as session:
            done = service.classify_pending(
                session,
                bus=runtime.bus,
                owner=owner,
                settle_seconds=settings.tracking_settle_seconds,
                batch=BATCH,
            )
        return done >= BATCH

    async def sweep() -> bool:
        started = time.monotonic()
        busy = await asyncio.to_thread(once)
        if busy:
            # A backlog: before the next sweep, leave the process as long as this one took.
            # Back to back, sweeps held the GIL and SQLite's one write lock nearly all the
            # time, and the event loop and the hits' writer queued behind them.
            await wait_or_stop(stop, time.monotonic() - started)
        return busy

    await run_every(
        stop,
        settings.tracking_poll_interval,
        sweep,
        error="tracking classification failed; retrying after a pause",
        logger=log,
    )
    await asyncio.to_thread(_release, runtime, owner)


def _release(runtime: Runtime, owner: str) -> None:
    try:
        with runtime.db.session() as session:
            leader.release(session, name=service.LEAD, owner=owner)
    except Exception:
        log.warning("could not release the tracking lease", exc_info=True)

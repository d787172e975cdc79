"""Everything a worker runs: the dispatcher plus each domain's background loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from carteiro.accounts.health import health_loop
from carteiro.appointments.worker import reminder_loop
from carteiro.campaigns.planner import campaign_loop
from carteiro.dispatches.inbox import webhook_loop as whatsapp_webhook_loop
from carteiro.dispatches.purge import purge_loop as dispatch_purge_loop
from carteiro.dispatches.worker import dispatch_loop
from carteiro.inbound.worker import inbox_loop
from carteiro.leads.worker import ingest_loop
from carteiro.outbound.worker import Dispatcher
from carteiro.responder.worker import responder_loop
from carteiro.runtime import Runtime
from carteiro.tracking.purge import purge_loop as tracking_purge_loop
from carteiro.tracking.worker import tracking_loop
from carteiro.webhooks.delivery import webhook_loop

log = logging.getLogger("carteiro.background")

Loop = Callable[[Runtime, asyncio.Event], Awaitable[Any]]

# Each `async def loop(runtime, stop)`; every one of them is safe to run in any number of
# processes (they lease their work or hold a singleton lock).
LOOPS: tuple[Loop, ...] = (
    ingest_loop,
    inbox_loop,
    webhook_loop,
    health_loop,
    responder_loop,
    reminder_loop,
    campaign_loop,
    tracking_loop,
    tracking_purge_loop,
    dispatch_loop,
    whatsapp_webhook_loop,
    dispatch_purge_loop,
)


def loop_name(loop: Loop) -> str:
    """`module:function`, the name its task and its log lines carry."""
    return f"{loop.__module__}:{getattr(loop, '__name__', repr(loop))}"


async def _guarded(name: str, loop: Awaitable[Any], stop: asyncio.Event) -> None:
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        # One domain's crash must not take the send path down with it.
        log.exception("background loop %s stopped with an error", name)
        await stop.wait()


async def run_all(runtime: Runtime, stop: asyncio.Event, *, concurrency: int | None = None) -> None:
    """Runs the dispatcher and every background loop until `stop` is set."""
    dispatcher = Dispatcher.from_runtime(runtime, concurrency=concurrency)
    runtime.dispatcher = dispatcher
    tasks = [asyncio.create_task(dispatcher.run(stop), name="dispatcher")]
    for loop in LOOPS:
        name = loop_name(loop)
        tasks.append(asyncio.create_task(_guarded(name, loop(runtime, stop), stop), name=name))
    try:
        await asyncio.gather(*tasks)
    finally:
        runtime.dispatcher = None

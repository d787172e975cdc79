"""Everything a worker runs: the dispatcher plus each domain's background loop."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from carteiro.outbound.worker import Dispatcher
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.background")

# module:function pairs, each `async def loop(runtime, stop)`; every one of them is safe to run
# in any number of processes (they lease their work or hold a singleton lock).
LOOPS = (
    "carteiro.leads.worker:ingest_loop",
    "carteiro.inbound.worker:inbox_loop",
    "carteiro.webhooks.delivery:webhook_loop",
    "carteiro.accounts.health:health_loop",
)


def _load(spec: str) -> Callable[[Runtime, asyncio.Event], Awaitable[Any]]:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


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
    for spec in LOOPS:
        try:
            loop = _load(spec)
        except (ImportError, AttributeError):
            log.exception("background loop %s cannot be loaded; the rest keeps running", spec)
            continue
        tasks.append(asyncio.create_task(_guarded(spec, loop(runtime, stop), stop), name=spec))
    try:
        await asyncio.gather(*tasks)
    finally:
        runtime.dispatcher = None

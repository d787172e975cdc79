"""Helpers for tests that run a dispatcher until the database shows an outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from carteiro.outbound.models import Email
from carteiro.outbound.worker import Dispatcher
from carteiro.runtime import Runtime


async def run_dispatcher_until(
    runtime: Runtime, done: Callable[[], bool], *, timeout: float = 20.0
) -> Dispatcher:
    """Runs a dispatcher until `done()` (checked against the database) or the timeout."""
    dispatcher = Dispatcher.from_runtime(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while asyncio.get_running_loop().time() < deadline:
            if await asyncio.to_thread(done):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    return dispatcher


def email_status(runtime: Runtime, email_id: int) -> str:
    with runtime.db.session() as session:
        return session.get_one(Email, email_id).status

"""Every background loop a worker starts can be found, and they all stop when told to."""

from __future__ import annotations

import asyncio
import inspect

from carteiro import background
from carteiro.runtime import Runtime


def test_every_loop_is_importable_and_async() -> None:
    for loop in background.LOOPS:
        spec = background.loop_name(loop)
        assert inspect.iscoroutinefunction(loop), spec


async def test_run_all_starts_and_stops_everything(runtime: Runtime, api_key: str) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(background.run_all(runtime, stop))
    await asyncio.sleep(0.5)
    assert runtime.dispatcher is not None and not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    assert runtime.dispatcher is None

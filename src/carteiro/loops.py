"""Timing of repeated work: background loops that run every interval, retry backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("carteiro.loops")


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_every(
    stop: asyncio.Event,
    interval: float,
    fn: Callable[[], Awaitable[bool | None]],
    *,
    error: str,
    logger: logging.Logger = log,
) -> None:
    """Awaits `fn` until `stop` is set, pausing `interval` seconds (or until stop) after each
    round, except right after a round that returned True: work is still waiting.

    A round that raises is logged with `error` and retried after the pause; the loop outlives
    a database or network that is briefly unreachable."""
    while not stop.is_set():
        busy = False
        try:
            busy = bool(await fn())
        except Exception:
            logger.exception(error)
        if not busy:
            await wait_or_stop(stop, interval)


async def run_in_thread_every(
    stop: asyncio.Event,
    interval: float,
    job: Callable[[], object],
    *,
    error: str,
    logger: logging.Logger = log,
) -> None:
    """`run_every` for a blocking job (a purge, a sweep) run on a thread, one round per
    `interval`."""

    async def round_() -> bool:
        await asyncio.to_thread(job)
        return False

    await run_every(stop, interval, round_, error=error, logger=logger)


@dataclass(frozen=True)
class Backoff:
    """Exponential delays from `base` seconds, doubling per attempt up to `cap`, with equal
    jitter (half fixed, half random) so that retries of many failures spread out."""

    base: float
    cap: float
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt` (1 for the first retry)."""
        full: float = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        if not self.jitter:
            return full
        return full / 2 + random.uniform(0, full / 2)

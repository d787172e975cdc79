"""run_every's pauses, busy rounds, errors and shutdown; Backoff's attempt → delay rule."""

from __future__ import annotations

import asyncio
import logging

import pytest

from carteiro.loops import Backoff, run_every


def test_run_every_pauses_between_rounds_and_stops() -> None:
    async def main() -> int:
        stop = asyncio.Event()
        rounds = 0

        async def work() -> None:
            nonlocal rounds
            rounds += 1

        task = asyncio.create_task(run_every(stop, 0.05, work, error="failed"))
        await asyncio.sleep(0.12)
        stop.set()
        # A stop ends the pause at once, not after the interval.
        await asyncio.wait_for(task, timeout=0.5)
        return rounds

    assert 2 <= asyncio.run(main()) <= 4


def test_run_every_goes_on_at_once_while_work_is_waiting() -> None:
    async def main() -> int:
        stop = asyncio.Event()
        left = 5

        async def work() -> bool:
            nonlocal left
            left -= 1
            if left == 0:
                stop.set()
            return True

        await asyncio.wait_for(run_every(stop, 60, work, error="failed"), timeout=1)
        return left

    assert asyncio.run(main()) == 0


def test_run_every_logs_a_failed_round_and_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> int:
        stop = asyncio.Event()
        rounds = 0

        async def work() -> None:
            nonlocal rounds
            rounds += 1
            if rounds == 1:
                raise RuntimeError("database away")
            stop.set()

        await asyncio.wait_for(run_every(stop, 0.01, work, error="round failed"), timeout=1)
        return rounds

    with caplog.at_level(logging.ERROR, logger="carteiro.loops"):
        assert asyncio.run(main()) == 2
    assert [r.message for r in caplog.records] == ["round failed"]


@pytest.mark.parametrize("attempt", range(1, 10))
def test_backoff_doubles_from_base_up_to_cap_with_equal_jitter(attempt: int) -> None:
    backoff = Backoff(base=1, cap=30)
    full = min(30, 2 ** (attempt - 1))
    delays = {backoff.delay(attempt) for _ in range(50)}
    assert all(full / 2 <= d <= full for d in delays)
    assert len(delays) > 1


def test_backoff_without_jitter_is_exact() -> None:
    backoff = Backoff(base=0.2, cap=5, jitter=False)
    assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5])

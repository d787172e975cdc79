"""The classification loop works through a backlog of many batches without waiting its poll
interval between them, and stops when told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from carteiro.config import Settings
from carteiro.runtime import Runtime
from carteiro.tracking import service, worker
from carteiro.tracking.body import Tracked
from carteiro.tracking.models import TrackingHit
from carteiro.tracking.service import HitIn

Track = Callable[..., Tracked]
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
HTML = "".join(f'<a href="https://loja.example/{i}">{i}</a>' for i in range(3))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A poll interval no test waits out: only the backlog path can finish the work.
    return settings.model_copy(update={"tracking_poll_interval": 600.0})


def _unclassified(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(TrackingHit).where(TrackingHit.hit_class.is_(None))
            )
            or 0
        )


def test_a_backlog_of_several_batches_is_classified_without_pausing_for_the_interval(
    runtime: Runtime, track: Track, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "BATCH", 10)
    token = track(HTML).token
    at = datetime.now(UTC) - timedelta(minutes=10)
    with runtime.db.session() as session:
        target = service.target(session, token=token)
        assert target is not None
        service.record(
            session,
            [
                HitIn(target, "click", i % 3, at + timedelta(seconds=i * 7), FIREFOX, None)
                for i in range(45)
            ],
        )
    assert _unclassified(runtime) == 45

    async def main() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.tracking_loop(runtime, stop))
        try:
            async with asyncio.timeout(30):
                while (left := await asyncio.to_thread(_unclassified, runtime)) > 0:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
        return left

    assert asyncio.run(main()) == 0

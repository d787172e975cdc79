"""The per-number pacer, the worker's sleep until the soonest due dispatch, and webhook bodies
stored a group per commit."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from dispatchkit import PHONE_NUMBER_ID, Lead, process_webhooks, seed_body
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.dispatches.claim import pause_before
from carteiro.dispatches.pace import Pace
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi

POLL = 30.0


@pytest.fixture
def settings(fresh_database_url: str, tmp_path: Path) -> Settings:
    # A poll interval far longer than the test: a dispatch sent in time was not polled for.
    return Settings(
        _env_file=None,
        database_url=fresh_database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
        email_rate_limit_per_hour=0,
        dispatch_poll_interval=POLL,
        gmail_email=None,
        gmail_app_password=None,
        api_key=None,
    )


def _simulate(pace: Pace, *, seconds: float, oversleep: float) -> list[float]:
    """A sender that sleeps as told and always wakes `oversleep` late (a busy event loop)."""
    now, sent = 0.0, []
    while now < seconds:
        wait = pace.delay(now)
        if wait > 0:
            now += wait + oversleep
            continue
        pace.take(now)
        sent.append(now)
    return sent


def _busiest_second(times: list[float]) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_pace_reaches_the_rate_despite_oversleeping_and_never_exceeds_it() -> None:
    pace = Pace(1 / 100)  # 100 msg/s
    sent = _simulate(pace, seconds=10.0, oversleep=0.003)
    # Pacing from each send's actual time would lose 3 ms of every 10: 77 msg/s.
    assert len(sent) >= 0.97 * 1000
    assert _busiest_second(sent) <= 100


def test_pace_catch_up_after_a_stall_is_a_short_burst_within_the_second() -> None:
    pace = Pace(1 / 100, tolerance=0.1)
    for i in range(50):
        pace.take(i / 100)
    # The loop stalls for half a second: the sends due meanwhile are not all made up at once.
    now, burst = 1.0, 0
    while pace.delay(now) < 1e-9:
        pace.take(now)
        burst += 1
    assert 1 <= burst <= 11  # the tolerance's worth (0.1 s at 100/s), then the step again
    assert pace.delay(now) == pytest.approx(0.01, abs=1e-9)


def test_pace_holds_a_rate_below_one_per_second() -> None:
    pace = Pace(8.0)  # the Evolution gateway's default interval
    sent = _simulate(pace, seconds=60.0, oversleep=0.05)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(sent) == 8 and min(gaps) >= 8.0


def test_pace_slowed_down_keeps_its_recent_sends_in_the_window() -> None:
    pace = Pace(1 / 100)
    for i in range(100):
        pace.take(i / 100)
    pace.retune(1 / 10)  # slowed to a tenth after a 130429
    # The hundred sends of the last second still count: nothing goes until they age out.
    assert pace.delay(1.0) > 0.9


def test_pause_is_until_the_soonest_due_at_most_the_interval() -> None:
    now = utcnow()
    assert pause_before(None, now=now, interval=POLL) == POLL
    assert pause_before(now + timedelta(seconds=2), now=now, interval=POLL) == 2.0
    assert pause_before(now + timedelta(minutes=5), now=now, interval=POLL) == POLL
    # Due already but left by the round (no room on its number): not a busy loop.
    assert pause_before(now - timedelta(seconds=1), now=now, interval=POLL) == POLL


async def test_worker_sleeps_until_a_known_dispatch_is_due(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    due = utcnow() + timedelta(seconds=1)
    r = client.post(
        f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, agendar_para=due.isoformat())
    )
    assert r.status_code == 201, r.text
    transport = fake.transport()
    worker = DispatchWorker(runtime, transport_for=lambda _b: transport)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        # Known before the worker's first idle round: it is sent long before the 30 s poll
        # (the loop would otherwise sleep the whole interval and miss this window).
        stop_at = asyncio.get_running_loop().time() + POLL / 2
        while not fake.outbox and asyncio.get_running_loop().time() < stop_at:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert len(fake.outbox) == 1
    assert client.get(f"/disparos/{r.json()['disparo_id']}").json()["status"] == "enviado"


async def test_concurrent_status_webhooks_are_each_stored_before_their_answer(
    runtime: Runtime, fake: FakeCloudApi, number_id: int, api_key: str
) -> None:
    app = create_app(runtime, run_worker=False)
    bodies = [
        fake.inbound_webhook(PHONE_NUMBER_ID, f"55119876543{i:02d}", f"oi {i}") for i in range(40)
    ]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:

        async def post(raw: bytes, bad: bool) -> int:
            r = await client.post(
                f"/webhooks/whatsapp/cloud/{number_id}",
                content=raw,
                headers={"X-Hub-Signature-256": fake.signature(raw, bad=bad)},
            )
            return r.status_code

        codes = await asyncio.gather(*(post(raw, i % 10 == 3) for i, raw in enumerate(bodies)))
    assert codes.count(403) == 4 and codes.count(200) == 36
    # Every 200 was answered after its body was committed; the refused ones were not stored.
    assert process_webhooks(runtime) == 36
    assert process_webhooks(runtime) == 0

"""Meta's 130429 (throttled) lowers the number's send rate for a while, then it recovers."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from dispatchkit import Lead, seed_body
from fastapi.testclient import TestClient

from carteiro.db.types import utcnow
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi, Rule
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import throttle
from carteiro.whatsapp.models import WhatsAppNumber


def _create(client: TestClient, lead: Lead) -> int:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    assert r.status_code == 201, r.text
    return int(r.json()["disparo_id"])


def _worker_at(runtime: Runtime, fake: FakeCloudApi, when: datetime) -> DispatchWorker:
    transport = fake.transport()
    return DispatchWorker(runtime, transport_for=lambda _b: transport, clock=lambda: when)


def _number(runtime: Runtime, number_id: int) -> WhatsAppNumber:
    with runtime.db.session() as session:
        number = session.get_one(WhatsAppNumber, number_id)
        session.expunge(number)
        return number


def _gaps(runtime: Runtime, number_id: int, now: datetime) -> list[float]:
    """The spacing of three send slots the number would hand out at `now`."""
    with runtime.db.session() as session:
        slots = whatsapp.reserve_slots(
            session, number_id=number_id, count=3, min_interval=0.0, now=now, horizon=60
        )
    return [(b - a).total_seconds() for a, b in pairwise(slots)]


async def test_a_throttled_burst_halves_the_rate_once_and_it_recovers(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    configured = _number(runtime, number_id).rate_per_second
    # Three sends of one batch all answered 130429: one overload, so one cut.
    fake.script(Rule(code=130429, times=3))
    ids = [_create(client, lead) for _ in range(3)]
    now = utcnow()
    assert await _worker_at(runtime, fake, now).once()
    number = _number(runtime, number_id)
    assert number.throttle_factor == pytest.approx(0.5)
    assert throttle.rate(number, now) == pytest.approx(configured / 2)
    for disparo_id in ids:
        d = client.get(f"/disparos/{disparo_id}").json()
        assert d["status"] == "pendente" and d["error_code"] == "130429"
    kinds = [e["kind"] for i in ids for e in client.get(f"/disparos/{i}").json()["events"]]
    assert kinds.count("ritmo_reduzido") == 1 and kinds.count("retry") == 3
    # New slots are spaced for the lower rate, not the configured one.
    later = now + timedelta(seconds=30)
    expected = 1 / throttle.rate(number, later)
    assert _gaps(runtime, number_id, later) == pytest.approx([expected, expected], rel=1e-3)
    assert expected > 1.5 / configured

    # The retries go out once due (the fake accepts them now) at the lowered pace.
    assert await _worker_at(runtime, fake, now + timedelta(seconds=40)).once()
    statuses = {client.get(f"/disparos/{i}").json()["status"] for i in ids}
    assert statuses == {"enviado"} and len(fake.outbox) == 3

    # Recovery is gradual: partway after half the recovery time, whole after all of it.
    halfway = now + timedelta(seconds=throttle.RECOVERY_SECONDS / 4)
    assert configured / 2 < throttle.rate(number, halfway) < configured
    done = now + timedelta(seconds=throttle.RECOVERY_SECONDS / 2)
    assert throttle.rate(number, done) == pytest.approx(configured)


async def test_throttled_again_later_cuts_deeper_but_never_below_the_floor(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    now = utcnow()
    for step in range(8):
        fake.script(Rule(code=130429))
        _create(client, lead)
        await _worker_at(runtime, fake, now + timedelta(seconds=3 * step)).once()
    number = _number(runtime, number_id)
    assert number.throttle_factor == pytest.approx(throttle.MIN_FACTOR)
    assert throttle.rate(number, number.throttled_at or now) == pytest.approx(
        number.rate_per_second * throttle.MIN_FACTOR
    )


async def test_the_pair_limit_does_not_slow_the_number(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    # 131056 is about one person (one message per ~6 s to them), not the number's rate.
    fake.script(Rule(code=131056))
    disparo_id = _create(client, lead)
    await _worker_at(runtime, fake, utcnow()).once()
    assert client.get(f"/disparos/{disparo_id}").json()["error_code"] == "131056"
    number = _number(runtime, number_id)
    assert number.throttle_factor == 1.0 and number.throttled_at is None

"""Dispatch changes as outgoing webhook events, and the failure-rate alarm above 10%."""

from __future__ import annotations

from dispatchkit import Lead, seed_body
from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.dispatches import alarm
from carteiro.dispatches.worker import DispatchWorker
from carteiro.events.models import OutboxEvent
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi, Rule


def _events(runtime: Runtime) -> list[OutboxEvent]:
    with runtime.db.session() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def test_changes_become_webhook_events_and_failures_raise_the_alarm(
    client: TestClient, lead: Lead, runtime: Runtime, worker: DispatchWorker, fake: FakeCloudApi
) -> None:
    ok = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead)).json()["disparo_id"]
    await worker.once()
    sent = [e for e in _events(runtime) if e.type == "dispatch_sent"]
    assert [e.payload["disparo_id"] for e in sent] == [ok]
    assert sent[0].payload["status"] == "enviado"

    fake.script(Rule(code=131026, times=alarm.MIN_FINISHED + 5))
    for _ in range(alarm.MIN_FINISHED + 5):
        client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    await worker.once()
    types = [e.type for e in _events(runtime)]
    assert types.count("dispatch_failed") == alarm.MIN_FINISHED + 5
    (raised,) = [e for e in _events(runtime) if e.type == "dispatch_failure_rate"]
    assert raised.payload["canal"] == "whatsapp" and raised.payload["rate"] > 0.10
    # Once an hour, not once per failure.
    fake.script(Rule(code=131026, times=3))
    for _ in range(3):
        client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    await worker.once()
    assert [e.type for e in _events(runtime)].count("dispatch_failure_rate") == 1

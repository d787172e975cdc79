"""Retries, the dead-letter list and its purge, the window fallback, the breaker, ambiguity."""

from __future__ import annotations

from datetime import timedelta

from dispatchkit import PHONE_NUMBER_ID, Lead, post_webhook, process_webhooks, seed_body
from fastapi.testclient import TestClient

from carteiro.db.types import utcnow
from carteiro.dispatches import purge
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi, Rule


def _create(client: TestClient, lead: Lead, **extra: object) -> int:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, **extra))
    assert r.status_code == 201, r.text
    return int(r.json()["disparo_id"])


def _worker_at(runtime: Runtime, fake: FakeCloudApi, when: object) -> DispatchWorker:
    transport = fake.transport()
    return DispatchWorker(runtime, transport_for=lambda _b: transport, clock=lambda: when)  # type: ignore[arg-type,return-value]


async def test_throttled_three_times_ends_in_the_dead_letter_list_then_purged(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    fake.script(Rule(code=130429, times=3))
    disparo_id = _create(client, lead)
    now = utcnow()
    for step in range(3):
        worker = _worker_at(runtime, fake, now + timedelta(seconds=40 * step))
        assert await worker.once()
        d = client.get(f"/disparos/{disparo_id}").json()
        assert d["tentativas"] == step + 1
        if step < 2:
            assert d["status"] == "pendente" and d["error_code"] == "130429"
    assert d["status"] == "erro" and d["dead_letter"] is True
    assert fake.outbox == []
    retries = [e for e in d["events"] if e["kind"] == "retry"]
    assert len(retries) == 2
    dead = client.get("/disparos/dead").json()
    assert [i["disparo_id"] for i in dead["items"]] == [disparo_id]
    moved = dead["items"][0]
    # Kept 14 days, purged after: the dispatch stays as erro, its dead-letter entry goes.
    assert purge.purge_once(runtime, now=now + timedelta(days=13), owner="t") == 0
    assert purge.purge_once(runtime, now=now + timedelta(days=14, minutes=5), owner="t") == 1
    assert client.get("/disparos/dead").json()["total"] == 0
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "erro"
    assert moved["motivo"]


async def test_retry_backoff_grows_and_stays_capped(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    fake.script(Rule(code=131016, times=2))
    disparo_id = _create(client, lead)
    now = utcnow()
    await _worker_at(runtime, fake, now).once()
    first = client.get(f"/disparos/{disparo_id}").json()["proxima_tentativa"]
    delay1 = (_parse(first) - now).total_seconds()
    assert 0.5 <= delay1 <= 1.0  # 1 s with equal jitter
    later = now + timedelta(seconds=2)
    await _worker_at(runtime, fake, later).once()
    second = client.get(f"/disparos/{disparo_id}").json()["proxima_tentativa"]
    delay2 = (_parse(second) - later).total_seconds()
    assert 1.0 <= delay2 <= 2.0
    await _worker_at(runtime, fake, later + timedelta(seconds=3)).once()
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "enviado"
    assert len(fake.outbox) == 1


def _parse(value: str) -> object:
    from datetime import datetime

    return datetime.fromisoformat(value)


async def test_permanent_template_error_fails_at_once(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    fake.templates.clear()  # Meta does not know the template: 132001
    disparo_id = _create(client, lead)
    await _worker_at(runtime, fake, utcnow()).once()
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "erro" and d["error_code"] == "132001" and d["tentativas"] == 1
    assert d["dead_letter"]


async def test_requeue_creates_a_new_linked_dispatch(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    fake.script(Rule(code=131026))
    disparo_id = _create(client, lead)
    await _worker_at(runtime, fake, utcnow()).once()
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "erro"
    r = client.post(f"/disparos/{disparo_id}/requeue")
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["disparo_id"] != disparo_id and new["requeued_from_id"] == disparo_id
    assert client.post(f"/disparos/{disparo_id}/requeue").status_code == 409
    await _worker_at(runtime, fake, utcnow()).once()
    assert client.get(f"/disparos/{new['disparo_id']}").json()["status"] == "enviado"
    dead = client.get("/disparos/dead").json()["items"][0]
    assert dead["requeued_as_id"] == new["disparo_id"]


async def test_free_text_outside_the_window_falls_back_to_the_template(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    # The person wrote (window open for us), but Meta's window has closed: it accepts the text
    # and fails it later with 131047; the dispatch goes again as its template.
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "quero pagar")
    assert post_webhook(client, number_id, raw, fake) == 200
    process_webhooks(runtime)
    fake.last_inbound.clear()
    payload = {"variaveis": {"nome": "Maria", "valor": "R$ 150,00"}, "texto": "Oi Maria!"}
    disparo_id = _create(client, lead, payload=payload)
    await _worker_at(runtime, fake, utcnow()).once()
    assert fake.outbox[0].type == "text"
    failed = fake.take_pending()
    assert failed and failed[0]["errors"][0]["code"] == 131047
    post_webhook(client, number_id, fake.statuses_webhook(failed, PHONE_NUMBER_ID), fake)
    process_webhooks(runtime)
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "pendente" and d["sent_as"] == "template"
    await _worker_at(runtime, fake, utcnow()).once()
    assert [s.type for s in fake.outbox] == ["text", "template"]
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "enviado" and d["tentativas"] == 1
    assert "fallback_template" in [e["kind"] for e in d["events"]]


async def test_synchronous_window_error_falls_back_too(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "oi")
    post_webhook(client, number_id, raw, fake)
    process_webhooks(runtime)
    fake.last_inbound.clear()
    fake.window_sync = True
    payload = {"variaveis": {"nome": "Maria", "valor": "R$ 1,00"}, "texto": "Oi"}
    disparo_id = _create(client, lead, payload=payload)
    await _worker_at(runtime, fake, utcnow()).once()
    await _worker_at(runtime, fake, utcnow()).once()
    assert [s.type for s in fake.outbox] == ["template"]
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "enviado"


async def test_auth_error_pauses_the_number_without_burning_attempts(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    fake.tokens[PHONE_NUMBER_ID] = "rotated-elsewhere"  # ours is now invalid: 190
    first = _create(client, lead)
    now = utcnow()
    await _worker_at(runtime, fake, now).once()
    d = client.get(f"/disparos/{first}").json()
    assert d["status"] == "pendente" and d["tentativas"] == 0 and d["error_code"] == "190"
    numbers = client.get("/whatsapp/numbers").json()
    assert numbers[0]["status"] == "paused" and "190" in numbers[0]["paused_reason"]
    # While open, the breaker keeps every dispatch of the number from calling Meta.
    second = _create(client, lead, payload={"variaveis": {"nome": "A", "valor": "B"}})
    fake.tokens[PHONE_NUMBER_ID] = "wa-token"
    await _worker_at(runtime, fake, now + timedelta(seconds=5)).once()
    assert fake.outbox == []
    assert client.get(f"/disparos/{second}").json()["status"] == "pendente"
    # Half-open after the pause: the next send goes through.
    after = now + timedelta(seconds=runtime.settings.whatsapp_breaker_seconds + 1)
    await _worker_at(runtime, fake, after).once()
    assert len(fake.outbox) == 2


async def test_ambiguous_timeout_is_never_resent_and_a_webhook_settles_it(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    runtime.settings.whatsapp_timeout = 0.2
    fake.hang_seconds = 5
    fake.script(Rule(hang=True))
    disparo_id = _create(client, lead)
    now = utcnow()
    await _worker_at(runtime, fake, now).once()
    assert len(fake.outbox) == 1  # Meta accepted it, we never heard back
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "pendente" and d["error_class"] == "ambiguous"
    # Before the deadline nobody sends it again.
    await _worker_at(runtime, fake, now + timedelta(seconds=30)).once()
    assert len(fake.outbox) == 1
    # The status webhook carries our correlation id: the dispatch adopts its wamid.
    sent = fake.outbox[0]
    raw = fake.statuses_webhook([fake.status(sent, "delivered")], PHONE_NUMBER_ID)
    post_webhook(client, number_id, raw, fake)
    process_webhooks(runtime)
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "confirmado" and d["provider_message_id"] == sent.message_id


async def test_ambiguous_collection_without_webhook_ends_in_error_not_a_second_send(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    runtime.settings.whatsapp_timeout = 0.2
    runtime.settings.dispatch_quiet_policy_cobranca = "none"
    fake.hang_seconds = 5
    fake.script(Rule(hang=True))
    disparo_id = _create(client, lead, purpose="cobranca")
    now = utcnow()
    await _worker_at(runtime, fake, now).once()
    wait = runtime.settings.whatsapp_ambiguous_wait_seconds
    await _worker_at(runtime, fake, now + timedelta(seconds=wait + 1)).once()
    assert len(fake.outbox) == 1
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "erro" and d["error_class"] == "ambiguous" and d["dead_letter"]


async def test_ambiguous_transactional_without_webhook_is_sent_once_more(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    runtime.settings.whatsapp_timeout = 0.2
    fake.hang_seconds = 5
    fake.script(Rule(hang=True))
    disparo_id = _create(client, lead)
    now = utcnow()
    await _worker_at(runtime, fake, now).once()
    wait = runtime.settings.whatsapp_ambiguous_wait_seconds
    await _worker_at(runtime, fake, now + timedelta(seconds=wait + 1)).once()
    # At most one duplicate, and only for a message whose first try nobody confirmed.
    assert len(fake.outbox) == 2
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "enviado" and d["tentativas"] == 2
    assert "reenvio" in [e["kind"] for e in d["events"]]

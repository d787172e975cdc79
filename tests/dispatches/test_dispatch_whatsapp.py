"""WhatsApp dispatches through the real app and worker against the fake Cloud API."""

from __future__ import annotations

from datetime import timedelta

from dispatchkit import PHONE_NUMBER_ID, Lead, post_webhook, process_webhooks, seed_body
from fastapi.testclient import TestClient

from carteiro.db.types import utcnow
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi, FakeEvolution


def _create(client: TestClient, lead: Lead, **extra: object) -> int:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, **extra))
    assert r.status_code == 201, r.text
    return int(r.json()["disparo_id"])


def test_seed_request_answers_the_seed_shape(
    client: TestClient, lead: Lead, number_id: int
) -> None:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"disparo_id", "status", "data_agendado"}
    assert body["status"] == "pendente"


async def test_immediate_template_is_sent_then_confirmed_by_webhooks(
    client: TestClient,
    lead: Lead,
    worker: DispatchWorker,
    fake: FakeCloudApi,
    runtime: Runtime,
    number_id: int,
) -> None:
    disparo_id = _create(client, lead)
    assert await worker.once()
    assert len(fake.outbox) == 1
    sent = fake.outbox[0]
    assert sent.type == "template" and sent.to == "5511987654321"
    params = sent.body["template"]["components"][0]["parameters"]
    assert [(p["parameter_name"], p["text"]) for p in params] == [
        ("nome", "Maria"),
        ("valor", "R$ 150,00"),
    ]
    assert sent.body["template"]["language"]["code"] == "pt_BR"
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "enviado"
    assert d["provider_message_id"] == sent.message_id
    assert d["tentativas"] == 1

    # Out of order and duplicated: read before delivered, sent last, read twice.
    statuses = [fake.status(sent, s) for s in ("read", "delivered", "read", "sent")]
    raw = fake.statuses_webhook(statuses, PHONE_NUMBER_ID)
    assert post_webhook(client, number_id, raw, fake) == 200
    assert post_webhook(client, number_id, raw, fake) == 200  # Meta redelivers
    process_webhooks(runtime)
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "confirmado"
    kinds = [e["kind"] for e in d["events"]]
    assert kinds.count("wa_read") == 1 and kinds.count("wa_delivered") == 1
    assert kinds.count("wa_sent") == 1


async def test_scheduled_dispatch_waits_for_its_time(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    later = utcnow() + timedelta(hours=2)
    disparo_id = _create(client, lead, agendar_para=later.isoformat())
    transport = fake.transport()
    now_worker = DispatchWorker(runtime, transport_for=lambda _b: transport)
    assert not await now_worker.once()
    assert fake.outbox == []
    future = DispatchWorker(
        runtime, transport_for=lambda _b: transport, clock=lambda: later + timedelta(seconds=1)
    )
    assert await future.once()
    assert len(fake.outbox) == 1
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "enviado"


def test_idempotency_key_returns_the_first_dispatch(
    client: TestClient, lead: Lead, number_id: int
) -> None:
    headers = {"Idempotency-Key": "cobranca-42"}
    first = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead), headers=headers)
    again = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["disparo_id"] == again.json()["disparo_id"]
    assert client.get("/disparos").json()["total"] == 1


def test_cancel_pending_then_conflict(client: TestClient, lead: Lead, number_id: int) -> None:
    later = (utcnow() + timedelta(days=1)).isoformat()
    disparo_id = _create(client, lead, agendar_para=later)
    r = client.post(f"/disparos/{disparo_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelado"
    assert client.post(f"/disparos/{disparo_id}/cancel").status_code == 409


def test_bad_input_names_the_field(client: TestClient, lead: Lead, number_id: int) -> None:
    r = client.post(
        f"/leads/{lead.lead_id}/disparos",
        json=seed_body(lead, payload={"variaveis": {"nome": "Maria"}}),
    )
    assert r.status_code == 422 and r.json()["field"] == "payload.variaveis.valor"
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, template="nope"))
    assert r.status_code == 422 and r.json()["field"] == "template"
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, canal="sms"))
    assert r.status_code == 422
    r = client.post("/leads/999999/disparos", json=seed_body(lead))
    assert r.status_code == 404
    assert client.get("/disparos").json()["total"] == 0


def test_webhook_signature_is_checked_before_anything_is_stored(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "oi")
    assert post_webhook(client, number_id, raw, fake, bad=True) == 403
    r = client.post(f"/webhooks/whatsapp/cloud/{number_id}", content=raw)
    assert r.status_code == 401
    assert process_webhooks(runtime) == 0
    ok = client.get(
        f"/webhooks/whatsapp/cloud/{number_id}",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "c4"},
    )
    assert ok.status_code == 200 and ok.text == "c4"
    wrong = client.get(
        f"/webhooks/whatsapp/cloud/{number_id}",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "c4"},
    )
    assert wrong.status_code == 403


async def test_evolution_gateway_dispatch_renders_the_template_as_text(
    runtime: Runtime, client: TestClient, lead: Lead
) -> None:
    runtime.settings.whatsapp_evolution_enabled = True
    runtime.settings.whatsapp_evolution_min_interval_seconds = 0
    evo = FakeEvolution()
    r = client.post(
        "/whatsapp/numbers",
        json={
            "name": "gw",
            "provider": "evolution",
            "phone_number_id": "carteiro-01",
            "token": "evo-key",
            "verify_token": "hook-secret",
            "base_url": "http://evo",
        },
    )
    assert r.status_code == 201, r.text
    number_id = r.json()["id"]
    client.post(
        "/whatsapp/templates",
        json={
            "name": "lembrete_pagamento",
            "params": [{"name": "nome"}, {"name": "valor"}],
            "body": "Olá {{nome}}, seu boleto de {{valor}} vence amanhã.",
        },
    )
    disparo_id = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead)).json()[
        "disparo_id"
    ]
    transport = evo.transport()
    await DispatchWorker(runtime, transport_for=lambda _b: transport).once()
    assert evo.outbox[0]["text"] == "Olá Maria, seu boleto de R$ 150,00 vence amanhã."
    key_id = evo.outbox[0]["key"]["id"]
    raw = evo.update_webhook("carteiro-01", key_id, "READ")
    path = f"/webhooks/whatsapp/evolution/{number_id}"
    assert client.post(path, content=raw).status_code == 401
    assert client.post(path, content=raw, headers={"X-Webhook-Token": "no"}).status_code == 403
    assert (
        client.post(path, content=raw, headers={"X-Webhook-Token": "hook-secret"}).status_code
        == 200
    )
    process_webhooks(runtime)
    assert client.get(f"/disparos/{disparo_id}").json()["status"] == "confirmado"


def test_evolution_is_off_by_default(client: TestClient) -> None:
    r = client.post(
        "/whatsapp/numbers",
        json={
            "name": "gw",
            "provider": "evolution",
            "phone_number_id": "i",
            "token": "k",
            "base_url": "http://evo",
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "provider"


async def test_inbound_messages_join_the_lead_timeline(
    client: TestClient,
    lead: Lead,
    runtime: Runtime,
    fake: FakeCloudApi,
    number_id: int,
    worker: DispatchWorker,
) -> None:
    client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    await worker.once()
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "Já paguei, obrigado")
    post_webhook(client, number_id, raw, fake)
    post_webhook(client, number_id, raw, fake)  # a redelivery is stored once
    process_webhooks(runtime)
    items = client.get(f"/leads/{lead.lead_id}/timeline").json()["items"]
    by_kind = {i["kind"]: i for i in items}
    assert len(items) == 2
    assert by_kind["whatsapp_recebido"]["text"] == "Já paguei, obrigado"
    assert by_kind["disparo"]["status"] == "enviado"

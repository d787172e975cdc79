"""The seed's `POST /mcp/whatsapp/send` against the fake Cloud API served on loopback, with the
app's own worker loops running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dispatchkit import PHONE_NUMBER_ID, post_webhook, register_number
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_whatsapp import FakeCloudApi


@pytest.fixture
def live(
    runtime: Runtime, principal: Principal, api_key: str, fake: FakeCloudApi
) -> Iterator[tuple[TestClient, int]]:
    runtime.settings.dispatch_poll_interval = 0.05
    with serve_in_thread(fake.app) as base_url:
        number_id = register_number(runtime, principal, base_url=base_url)
        app = create_app(runtime, run_worker=True)
        with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
            yield c, number_id


def test_template_send_answers_sent_with_the_wamid(
    live: tuple[TestClient, int], fake: FakeCloudApi
) -> None:
    client, _ = live
    r = client.post(
        "/mcp/whatsapp/send",
        json={
            "to": "+5511987654321",
            "message": "",
            "templateId": "lembrete_pagamento",
            "variables": {"nome": "Maria", "valor": "R$ 150,00"},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "sent"
    assert body["messageId"] == fake.outbox[0].message_id
    assert body["error"] is None
    d = client.get(f"/disparos/{body['disparoId']}").json()
    assert d["lead_id"] is None and d["status"] == "enviado"


def test_free_text_outside_the_window_fails_without_calling_meta(
    live: tuple[TestClient, int], fake: FakeCloudApi
) -> None:
    client, _ = live
    r = client.post("/mcp/whatsapp/send", json={"to": "+5511987654321", "message": "Oi"})
    body = r.json()
    assert body["status"] == "failed" and body["error"]["code"] == "fora_janela_24h"
    assert body["messageId"] is None
    assert fake.outbox == []


def test_free_text_inside_the_window_is_sent(
    live: tuple[TestClient, int], fake: FakeCloudApi
) -> None:
    client, number_id = live
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "Bom dia")
    assert post_webhook(client, number_id, raw, fake) == 200
    for _ in range(100):
        r = client.post("/mcp/whatsapp/send", json={"to": "+5511987654321", "message": "Oi"})
        if r.json()["status"] == "sent":
            break
    assert r.json()["status"] == "sent"
    assert fake.outbox[-1].type == "text"


def test_bad_number_and_bad_variables(live: tuple[TestClient, int], fake: FakeCloudApi) -> None:
    client, _ = live
    r = client.post("/mcp/whatsapp/send", json={"to": "+551133334444", "message": "Oi"})
    assert r.json()["error"]["code"] == "numero_invalido"
    r = client.post(
        "/mcp/whatsapp/send",
        json={
            "to": "+5511987654321",
            "message": "x",
            "templateId": "lembrete_pagamento",
            "variables": {"nome": "Maria"},
        },
    )
    assert r.json()["status"] == "failed" and r.json()["error"]["code"] == "template_invalido"
    assert fake.outbox == []

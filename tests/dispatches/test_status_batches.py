"""Status webhooks applied a batch at a time: each status once, in any order, redeliveries and
repeats within the batch harmless; the webhook route's checks on its path."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from dispatchkit import PHONE_NUMBER_ID, post_webhook, process_webhooks
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carteiro.db.types import utcnow
from carteiro.dispatches import inbox
from carteiro.dispatches.models import Disparo, DisparoDeadLetter, DisparoEvent
from carteiro.events.models import OutboxEvent
from carteiro.runtime import Runtime
from carteiro.testing.fake_whatsapp import FakeCloudApi
from carteiro.whatsapp.models import WhatsAppInbound, WhatsAppWebhook


def _dispatch(
    runtime: Runtime,
    number_id: int,
    *,
    wamid: str | None,
    status: str = "enviado",
    sent_as: str = "template",
) -> tuple[int, str]:
    """A dispatch as the worker leaves it after sending (or, without `wamid`, after an
    ambiguous attempt that waits for a webhook); its id and correlation."""
    now = utcnow()
    correlation = uuid.uuid4().hex
    with runtime.db.session() as session:
        d = Disparo(
            tenant_id=1,
            canal="whatsapp",
            destino="+5511987654321",
            template="lembrete_pagamento",
            payload={},
            status=status,
            data_agendado=now,
            run_at=now,
            data_envio=now if wamid else None,
            tentativas=1,
            correlation=correlation,
            provider_message_id=wamid,
            whatsapp_number_id=number_id,
            sent_as=sent_as,
        )
        session.add(d)
        session.flush()
        return d.disparo_id, correlation


def _status(wamid: str, status: str, *, code: int | None = None, **extra: str) -> dict[str, Any]:
    s: dict[str, Any] = {"id": wamid, "status": status, "timestamp": "1764600000", **extra}
    if code is not None:
        s["errors"] = [{"code": code, "title": "x", "message": "x"}]
    return s


def _entries(statuses: list[dict[str, Any]]) -> bytes:
    """One status per entry, as Meta sometimes groups them."""
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}}
    entries = [
        {"id": "WABA", "changes": [{"field": "messages", "value": {**value, "statuses": [s]}}]}
        for s in statuses
    ]
    return json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()


def _counts(runtime: Runtime) -> tuple[Counter[tuple[int, str]], Counter[tuple[str, int]]]:
    with runtime.db.session() as session:
        events = Counter(
            (int(i), str(k))
            for i, k in session.execute(select(DisparoEvent.disparo_id, DisparoEvent.kind))
        )
        outbox = Counter(
            (e.type, int(e.payload["disparo_id"])) for e in session.scalars(select(OutboxEvent))
        )
    return events, outbox


def _statuses(runtime: Runtime, ids: list[int]) -> dict[int, Disparo]:
    with runtime.db.session() as session:
        rows = session.scalars(select(Disparo).where(Disparo.disparo_id.in_(ids)))
        return {d.disparo_id: d for d in rows}


def test_a_batch_applies_each_status_once_whatever_its_order_and_repeats(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    sent = [
        (f"wamid.b{i}", _dispatch(runtime, number_id, wamid=f"wamid.b{i}")[0]) for i in range(6)
    ]
    # An attempt whose answer was lost: only the correlation ties the webhook to it.
    waiting, correlation = _dispatch(runtime, number_id, wamid=None, status="pendente")
    first = _entries([_status(w, "delivered") for w, _ in sent])
    second = _entries(
        [
            _status(sent[0][0], "read"),
            _status(sent[1][0], "delivered"),  # the same status again, in the same batch
            _status(sent[2][0], "failed", code=131026),  # after delivered: recorded, no change
            _status(sent[3][0], "sent"),  # out of order: sent after delivered
        ]
    )
    lost = _entries(
        [
            _status("wamid.lost", "sent", biz_opaque_callback_data=correlation),
            _status("wamid.lost", "delivered", biz_opaque_callback_data=correlation),
        ]
    )
    for raw in (first, second, lost):
        assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 3

    ids = [i for _, i in sent] + [waiting]
    rows = _statuses(runtime, ids)
    assert {i: d.status for i, d in rows.items()} == dict.fromkeys(ids, "confirmado")
    assert rows[waiting].provider_message_id == "wamid.lost"
    events, outbox = _counts(runtime)
    assert events[(sent[1][1], "wa_delivered")] == 1
    assert events[(sent[0][1], "wa_read")] == 1 and events[(sent[3][1], "wa_sent")] == 1
    assert events[(sent[2][1], "wa_failed")] == 1 and events[(sent[2][1], "erro")] == 0
    assert events[(waiting, "wa_sent")] == 1 and events[(waiting, "wa_delivered")] == 1
    assert {i: outbox[("dispatch_confirmed", i)] for i in ids} == dict.fromkeys(ids, 1)
    assert outbox[("dispatch_sent", waiting)] == 1

    # Meta redelivers all of it later: stored and processed again, nothing changes.
    for raw in (second, first, lost):
        assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 3
    assert _counts(runtime) == (events, outbox)
    with runtime.db.session() as session:
        left = session.scalar(select(func.count()).where(WhatsAppWebhook.processed_at.is_(None)))
        assert left == 0


def test_a_failure_repeated_in_one_batch_fails_the_dispatch_once(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    disparo_id, _ = _dispatch(runtime, number_id, wamid="wamid.f1")
    raw = _entries([_status("wamid.f1", "failed", code=131026)])
    assert post_webhook(client, number_id, raw, fake) == 200
    assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 2
    assert _statuses(runtime, [disparo_id])[disparo_id].status == "erro"
    events, outbox = _counts(runtime)
    assert events[(disparo_id, "wa_failed")] == 1 and events[(disparo_id, "erro")] == 1
    assert outbox[("dispatch_failed", disparo_id)] == 1
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(DisparoDeadLetter)) == 1


def test_a_closed_window_repeated_in_one_batch_falls_back_to_the_template_once(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    disparo_id, _ = _dispatch(runtime, number_id, wamid="wamid.t1", sent_as="text")
    raw = _entries([_status("wamid.t1", "failed", code=131047)] * 2)
    assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 1
    d = _statuses(runtime, [disparo_id])[disparo_id]
    assert (d.status, d.sent_as, d.tentativas) == ("pendente", "template", 0)
    events, _ = _counts(runtime)
    assert events[(disparo_id, "fallback_template")] == 1


def test_the_webhook_route_checks_its_path_before_the_signature(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    raw = _entries([_status("wamid.none", "delivered")])
    headers = {"X-Hub-Signature-256": fake.signature(raw)}
    for bad in ("abc", "0", "-1", "99999999999999999999"):
        r = client.post(f"/webhooks/whatsapp/cloud/{bad}", content=raw, headers=headers)
        assert r.status_code == 422 and r.json()["field"] == "number_id", bad
    r = client.post(f"/webhooks/whatsapp/cloud/{number_id + 1}", content=raw, headers=headers)
    assert r.status_code == 404
    r = client.post(f"/webhooks/whatsapp/evolution/{number_id}", content=raw, headers=headers)
    assert r.status_code == 404  # a Cloud API number is not reached as a gateway's
    r = client.post(f"/webhooks/whatsapp/cloud/{number_id}", content=raw)
    assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["message"]
    assert process_webhooks(runtime) == 0
    assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 1


def test_a_webhook_over_the_json_limit_but_within_metas_is_stored(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    limit = runtime.settings.max_request_bytes
    disparo_id, _ = _dispatch(runtime, number_id, wamid="wamid.big")
    # Meta's payloads stay under 3 MB; one over the API's 1 MiB JSON limit is still its.
    padding = [_status(f"wamid.pad{i:06d}", "delivered") for i in range(limit // 200)]
    raw = _entries([_status("wamid.big", "delivered"), *padding])
    assert limit < len(raw) < 3 * 1024 * 1024
    assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 1
    assert _statuses(runtime, [disparo_id])[disparo_id].status == "confirmado"
    huge = b" " * (3 * 1024 * 1024 + 1)
    assert post_webhook(client, number_id, huge, fake) == 413


def test_a_nul_in_a_persons_message_is_stored_and_processed_without_it(
    client: TestClient, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", "oi\x00 tudo bem")
    assert b"\\u0000" in raw
    assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 1
    with runtime.db.session() as session:
        texts = list(session.scalars(select(WhatsAppInbound.text)))
        row = session.scalars(select(WhatsAppWebhook)).one()
    assert texts == ["oi tudo bem"]
    assert row.processed_at is not None and row.error is None


def test_a_round_is_applied_in_groups_and_an_unreadable_body_keeps_its_error(
    client: TestClient,
    runtime: Runtime,
    fake: FakeCloudApi,
    number_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inbox, "GROUP_EVENTS", 3)
    sent = [_dispatch(runtime, number_id, wamid=f"wamid.g{i}")[0] for i in range(7)]
    bodies = [
        _entries([_status("wamid.g0", "delivered"), _status("wamid.g1", "delivered")]),
        b"{not json",  # signed all the same: stored, then marked unreadable
        _entries([_status(f"wamid.g{i}", "delivered") for i in range(2, 6)]),  # over a group
        _entries([_status("wamid.g6", "read"), _status("wamid.g0", "read")]),
    ]
    for raw in bodies:
        assert post_webhook(client, number_id, raw, fake) == 200
    assert process_webhooks(runtime) == 4
    assert {d.status for d in _statuses(runtime, sent).values()} == {"confirmado"}
    with runtime.db.session() as session:
        rows = list(session.scalars(select(WhatsAppWebhook).order_by(WhatsAppWebhook.id)))
    assert all(r.processed_at is not None and r.lease_owner is None for r in rows)
    assert [r.error is not None for r in rows] == [False, True, False, False]
    assert rows[1].error.startswith("unreadable body")  # type: ignore[union-attr]
    events, outbox = _counts(runtime)
    assert events[(sent[0], "wa_read")] == 1
    assert sum(n for (kind, _), n in outbox.items() if kind == "dispatch_confirmed") == 7

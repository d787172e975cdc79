"""Webhooks: the API, URL rules, signatures, and delivery to a real HTTP receiver that fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carteiro.accounts import status
from carteiro.accounts.models import Account
from carteiro.errors import InvalidInput
from carteiro.events import outbox
from carteiro.events.models import OutboxEvent
from carteiro.leads import unsubscribe
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.http_receiver import HttpReceiver, Request
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink
from carteiro.webhooks import fanout
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.delivery import webhook_loop
from carteiro.webhooks.models import WebhookAttempt, WebhookDelivery
from carteiro.webhooks.schemas import WebhookCreate

SECRET = "s3cret-s3cret-s3cret"


def add_hook(runtime: Runtime, principal: Principal, url: str, events: list[str]) -> int:
    with runtime.db.session() as session:
        return webhooks.create(
            session,
            tenant_id=principal.tenant_id,
            data=WebhookCreate(url=url, events=events, secret=SECRET),  # type: ignore[arg-type]
            vault=runtime.vault,
            allow_private=True,
        ).id


def queue_email(runtime: Runtime, principal: Principal, to: str, **fields: Any) -> int:
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(to_email=to, subject="Olá", body="corpo", **fields),
            settings=runtime.settings,
        )
        return email.id


def payloads(requests: list[Request], ok_only: bool = True) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in requests if r.status < 300 or not ok_only]


async def run_until(runtime: Runtime, done: Callable[[], bool], *, timeout: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(webhook_loop(runtime, stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline and not await asyncio.to_thread(done):
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


def delivery_statuses(runtime: Runtime) -> dict[str, str]:
    with runtime.db.session() as session:
        return dict(session.execute(select(WebhookDelivery.event_id, WebhookDelivery.status)).all())


# -- signature and URL rules -------------------------------------------------------------------


def test_signature_round_trip() -> None:
    body = b'{"id":"em_1","type":"sent"}'
    header = webhooks.sign(SECRET, body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert webhooks.verify_signature(SECRET, header, body, now=1_700_000_100)
    assert not webhooks.verify_signature("other-secret-xxxx", header, body, now=1_700_000_100)
    assert not webhooks.verify_signature(SECRET, header, body + b" ", now=1_700_000_100)
    assert not webhooks.verify_signature(SECRET, header, body, now=1_700_001_000)  # stale
    assert not webhooks.verify_signature(SECRET, "garbage", body)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://api.localhost/hook",
        "http://10.1.2.3/",
        "http://172.16.0.9/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://printer.local/",
        "http://db.internal/",
        "http://0.0.0.0/",
    ],
)
def test_internal_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        webhooks.validate_url(url, allow_private=False)
    assert raised.value.field == "url"
    assert webhooks.validate_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "javascript:alert(1)",
        "https://user:pass@hooks.example.com/",
        "https:///nohost",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/a b",
        "hooks.example.com/x",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.validate_url(url, allow_private=True)


def test_public_urls_are_accepted() -> None:
    for url in ("https://hooks.example.com/carteiro?x=1", "http://93.184.216.34:8080/h"):
        assert webhooks.validate_url(url, allow_private=False) == url


# -- REST API ----------------------------------------------------------------------------------


def test_api_create_list_get_delete(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    created = client.post(
        "/webhooks",
        json={"url": "https://hooks.example.com/c", "events": ["sent", "bounced", "sent"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["events"] == ["sent", "bounced"]
    listed = client.get("/webhooks").json()
    assert [h["id"] for h in listed] == [body["id"]] and "secret" not in listed[0]
    assert client.get(f"/webhooks/{body['id']}").json()["url"] == "https://hooks.example.com/c"
    assert client.get(f"/webhooks/{body['id']}/deliveries").json()["total"] == 0

    stranger = {"Authorization": f"Bearer {make_key(tenant='outro')}"}
    assert client.get(f"/webhooks/{body['id']}", headers=stranger).status_code == 404
    assert client.delete(f"/webhooks/{body['id']}", headers=stranger).status_code == 404
    reader = {"Authorization": f"Bearer {make_key(scopes=['emails:read'])}"}
    assert (
        client.post(
            "/webhooks", json={"url": "https://a.example.com", "events": ["sent"]}, headers=reader
        ).status_code
        == 403
    )
    assert client.delete(f"/webhooks/{body['id']}").status_code == 204
    assert client.get("/webhooks").json() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://x.example.com", "events": ["sent"]}, "url"),
        ({"url": "https://x.example.com", "events": []}, "events"),
        ({"url": "https://x.example.com", "events": ["exploded"]}, "events[0]"),
        ({"url": "https://x.example.com", "events": ["sent"], "secret": "short"}, "secret"),
        ({"events": ["sent"]}, "url"),
    ],
)
def test_api_bad_input(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/webhooks", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert client.get("/webhooks").json() == []


def test_api_refuses_internal_targets_by_default(runtime: Runtime, api_key: str) -> None:
    from carteiro.api.app import create_app

    runtime.settings = runtime.settings.model_copy(update={"webhook_allow_private": False})
    with TestClient(
        create_app(runtime, run_worker=False), headers={"Authorization": f"Bearer {api_key}"}
    ) as c:
        refused = c.post("/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["sent"]})
        assert refused.status_code == 422 and "internal" in refused.json()["message"]
        assert c.get("/webhooks").json() == []


# -- delivery ----------------------------------------------------------------------------------


async def test_events_are_delivered_signed_and_retried(
    runtime: Runtime,
    principal: Principal,
    receiver: HttpReceiver,
    sink: SmtpSink,
    smtp_account: int,
) -> None:
    before = queue_email(runtime, principal, "antes@example.org", account="sink")
    hook = add_hook(runtime, principal, receiver.url, ["queued", "sent", "failed", "bounced"])
    # The receiver fails the first two requests; Carteiro must retry them.
    receiver.script([500, 503])
    ok_id = queue_email(runtime, principal, "ana@example.org", account="sink")
    sink.script(["250 OK", "250 OK", "550 5.1.1 <bia@example.org>: user unknown"])
    bad_id = queue_email(runtime, principal, "bia@example.org", account="sink")
    await run_dispatcher_until(
        runtime,
        lambda: (
            email_status(runtime, ok_id) == "sent"
            and email_status(runtime, bad_id) == "failed"
            and email_status(runtime, before) == "sent"
        ),
    )

    expected = [
        (before, "sent"),  # its "queued" came before the webhook existed: not delivered
        (ok_id, "queued"),
        (ok_id, "sent"),
        (bad_id, "queued"),
        (bad_id, "failed"),
        (bad_id, "bounced"),
    ]

    def got_all() -> bool:
        return len(payloads(receiver.requests)) >= len(expected)

    await run_until(runtime, got_all)
    await run_until(runtime, lambda: False, timeout=0.3)  # a duplicate would show up now
    delivered = payloads(receiver.requests)
    kinds = sorted((p["data"]["email_id"], p["type"]) for p in delivered)
    assert kinds == sorted(expected)
    assert [r.status for r in receiver.requests[:2]] == [500, 503]
    for request in receiver.requests:
        assert webhooks.verify_signature(
            SECRET, request.headers["x-carteiro-signature"], request.body
        )
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-carteiro-event"] == json.loads(request.body)["type"]
    bounce = next(p for p in delivered if p["type"] == "bounced")
    assert bounce["id"].startswith("em_") and bounce["data"]["bounce"] == "hard"
    assert bounce["data"]["code"] == 550 and bounce["data"]["to"] == ["bia@example.org"]
    sent = next(p for p in delivered if p["type"] == "sent")
    assert sent["data"]["message_id"].startswith("<") and sent["data"]["subject"] == "Olá"

    assert set(delivery_statuses(runtime).values()) == {"delivered"}
    with runtime.db.session() as session:
        attempts = session.scalar(select(func.count(WebhookAttempt.id)))
        retried = session.scalar(select(func.max(WebhookDelivery.attempts)))
    assert attempts == len(receiver.requests) and retried >= 2
    log = webhooks.deliveries
    with runtime.db.session() as session:
        page = log(session, tenant_id=principal.tenant_id, webhook_id=hook)
    assert page.total == 6 and all(i.last_status_code == 200 for i in page.items)


async def test_non_message_events_from_the_outbox(
    runtime: Runtime, principal: Principal, receiver: HttpReceiver, smtp_account: int
) -> None:
    add_hook(runtime, principal, receiver.url, ["unsubscribed", "account_paused"])
    t = unsubscribe.issue(runtime.settings, tenant_id=principal.tenant_id, address="x@example.org")
    with runtime.db.session() as session:
        unsubscribe.unsubscribe(session, token=unsubscribe.verify(runtime.settings, t))
        account = session.get(Account, smtp_account)
        assert status.pause(session, account=account, reason="too many bounces")  # type: ignore[arg-type]
        assert not status.pause(session, account=account, reason="again")  # type: ignore[arg-type]
    await run_until(runtime, lambda: len(payloads(receiver.requests)) >= 2)
    got = {p["type"]: p for p in payloads(receiver.requests)}
    assert set(got) == {"unsubscribed", "account_paused"} and len(receiver.requests) == 2
    assert got["unsubscribed"]["data"]["address"] == "x@example.org"
    assert got["account_paused"]["data"] == {
        "account_id": smtp_account,
        "account": "sink",
        "email": "sender@example.com",
        "reason": "too many bounces",
        "source": "carteiro",
    }
    assert got["account_paused"]["id"].startswith("ev_")


async def test_gives_up_after_max_attempts_and_on_410(
    runtime: Runtime, principal: Principal
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"webhook_max_attempts": 3})
    with HttpReceiver(fail_rate=1.0) as failing, HttpReceiver() as gone:
        gone.script([410])
        add_hook(runtime, principal, failing.url, ["account_paused"])
        add_hook(runtime, principal, gone.url, ["account_paused"])
        with runtime.db.session() as session:
            outbox.emit(session, tenant_id=principal.tenant_id, type="account_paused", payload={})

        def settled() -> bool:
            with runtime.db.session() as session:
                rows = session.scalars(select(WebhookDelivery.status)).all()
            return len(rows) == 2 and set(rows) == {"failed"}

        await run_until(runtime, settled)
        assert settled()
        assert len(failing.requests) == 3 and len(gone.requests) == 1
    with runtime.db.session() as session:
        errors = session.scalars(select(WebhookDelivery.last_error)).all()
    assert sorted(errors) == ["HTTP 410", "HTTP 500"]


async def test_unreachable_receiver_is_retried(runtime: Runtime, principal: Principal) -> None:
    runtime.settings = runtime.settings.model_copy(update={"webhook_max_attempts": 2})
    with HttpReceiver() as receiver:
        url = receiver.url
    add_hook(runtime, principal, url, ["account_paused"])  # nothing listens there any more
    with runtime.db.session() as session:
        outbox.emit(session, tenant_id=principal.tenant_id, type="account_paused", payload={})
    await run_until(runtime, lambda: set(delivery_statuses(runtime).values()) == {"failed"})
    with runtime.db.session() as session:
        attempts = session.scalars(select(WebhookAttempt)).all()
    assert len(attempts) == 2 and all(a.status_code is None and a.error for a in attempts)


async def test_two_loops_deliver_each_event_once(
    runtime: Runtime, principal: Principal, receiver: HttpReceiver
) -> None:
    receiver.fail_rate = 0.3  # fails sometimes, seeded
    add_hook(runtime, principal, receiver.url, ["account_paused"])
    with runtime.db.session() as session:
        for i in range(40):
            outbox.emit(
                session, tenant_id=principal.tenant_id, type="account_paused", payload={"n": i}
            )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(webhook_loop(runtime, stop)) for _ in range(2)]
    try:
        await asyncio.to_thread(
            receiver.wait_for, lambda rs: len({r.body for r in rs if r.status == 200}) >= 40, 30
        )
        await asyncio.sleep(0.3)  # room for a duplicate to show up, if there were one
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    ok = [json.loads(r.body)["data"]["n"] for r in receiver.requests if r.status == 200]
    assert sorted(ok) == list(range(40))
    assert any(r.status == 500 for r in receiver.requests)
    with runtime.db.session() as session:
        assert session.scalar(select(func.count(WebhookDelivery.id))) == 40


def test_cursor_catches_late_commits(runtime: Runtime, principal: Principal) -> None:
    """On PostgreSQL a lower id can commit after a higher one; the fan-out waits for it."""
    add_hook(runtime, principal, "http://127.0.0.1:9/h", ["account_paused"])

    def emit_with_id(event_id: int) -> None:
        with runtime.db.session() as session:
            session.add(
                OutboxEvent(
                    id=event_id,
                    tenant_id=principal.tenant_id,
                    type="account_paused",
                    payload={"n": event_id},
                )
            )

    def fan_out(**kwargs: Any) -> int:
        with runtime.db.session() as session:
            return fanout.fan_out(session, owner="test", **kwargs).created

    emit_with_id(3)
    assert fan_out() == 1
    emit_with_id(1)
    emit_with_id(2)
    assert fan_out() == 2  # the holes 1 and 2 were remembered
    assert fan_out() == 0
    emit_with_id(6)  # holes 4 and 5
    assert fan_out() == 1
    assert fan_out(grace=0) == 0  # gave up on them
    emit_with_id(4)
    assert fan_out() == 0
    assert sorted(delivery_statuses(runtime)) == ["ev_1", "ev_2", "ev_3", "ev_6"]


def test_a_full_batch_reports_a_backlog(runtime: Runtime, principal: Principal) -> None:
    add_hook(runtime, principal, "http://127.0.0.1:9/h", ["account_paused"])
    with runtime.db.session() as session:
        for _ in range(5):
            outbox.emit(session, tenant_id=principal.tenant_id, type="account_paused", payload={})
    results = []
    for _ in range(3):
        with runtime.db.session() as session:
            results.append(fanout.fan_out(session, owner="t", batch=3))
    assert results == [(3, True), (2, False), (0, False)]


def test_delete_removes_pending_deliveries(runtime: Runtime, principal: Principal) -> None:
    hook = add_hook(runtime, principal, "http://127.0.0.1:9/h", ["account_paused"])
    with runtime.db.session() as session:
        outbox.emit(session, tenant_id=principal.tenant_id, type="account_paused", payload={})
    with runtime.db.session() as session:
        assert fanout.fan_out(session, owner="t").created == 1
    with runtime.db.session() as session:
        webhooks.delete(session, tenant_id=principal.tenant_id, webhook_id=hook)
    assert delivery_statuses(runtime) == {}


def test_emit_refuses_unknown_types(runtime: Runtime, principal: Principal) -> None:
    with pytest.raises(InvalidInput), runtime.db.session() as session:
        outbox.emit(session, tenant_id=principal.tenant_id, type="exploded", payload={})

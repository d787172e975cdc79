"""The failure-rate alarm reaches a subscribed webhook receiver, signed, once an hour per
channel: WhatsApp failing first does not hide e-mail failing after it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dispatchkit import Lead

from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.dispatches import alarm, lifecycle
from carteiro.dispatches import service as dispatches
from carteiro.dispatches.models import Disparo
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.http_receiver import HttpReceiver
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.delivery import webhook_loop
from carteiro.webhooks.schemas import WebhookCreate

SECRET = "alarm-secret-alarm-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_timeout": 5.0})


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


def _fail_many(runtime: Runtime, principal: Principal, lead: Lead, canal: str, count: int) -> None:
    target = (
        {"telefone_id": lead.telefone_id} if canal == "whatsapp" else {"email_id": lead.email_id}
    )
    with runtime.db.session() as session:
        for _ in range(count):
            d: Disparo = dispatches.create(
                session,
                principal=principal,
                lead_id=lead.lead_id,
                canal=canal,
                template="lembrete_pagamento",
                variaveis={"nome": "Maria", "valor": "R$ 1"},
                **target,  # type: ignore[arg-type]
            )
            lifecycle.fail(
                session, d, error_class="recipient", code="x", message="refused", now=utcnow()
            )


async def _until(done: Callable[[], bool], runtime: Runtime, timeout: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(webhook_loop(runtime, stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not done():
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


def _alarms(receiver: HttpReceiver) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in receiver.requests if r.status < 300]
    return [b for b in bodies if b["type"] == alarm.TYPE]


async def test_the_alarm_is_delivered_signed_once_per_channel(
    runtime: Runtime,
    principal: Principal,
    lead: Lead,
    number_id: int,
    receiver: HttpReceiver,
) -> None:
    with runtime.db.session() as session:
        webhooks.create(
            session,
            tenant_id=principal.tenant_id,
            data=WebhookCreate(url=receiver.url, events=[alarm.TYPE], secret=SECRET),  # type: ignore[arg-type]
            vault=runtime.vault,
            allow_private=True,
        )
    _fail_many(runtime, principal, lead, "whatsapp", alarm.MIN_FINISHED + 2)
    _fail_many(runtime, principal, lead, "email", alarm.MIN_FINISHED)
    await _until(lambda: len(_alarms(receiver)) >= 2, runtime)
    got = _alarms(receiver)
    assert sorted(a["data"]["canal"] for a in got) == ["email", "whatsapp"]
    for a in got:
        assert a["data"]["rate"] == 1.0 and a["data"]["threshold"] == alarm.THRESHOLD
    request = next(r for r in receiver.requests if r.status < 300)
    assert request.headers["x-carteiro-event"] == alarm.TYPE
    assert webhooks.verify_signature(SECRET, request.headers["x-carteiro-signature"], request.body)
    # More failures within the hour raise nothing new on either channel.
    _fail_many(runtime, principal, lead, "whatsapp", 3)
    _fail_many(runtime, principal, lead, "email", 3)
    await _until(lambda: False, runtime, timeout=1.0)
    assert len(_alarms(receiver)) == 2

"""Account health: real SMTP logins against the sink, pause after repeated failures, resume."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from carteiro.accounts import health
from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account, AccountCheck
from carteiro.accounts.schemas import AccountUpdate
from carteiro.errors import NotFound
from carteiro.events.models import OutboxEvent
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.smtp_server import SmtpSink


def set_password(runtime: Runtime, principal: Principal, account_id: int, password: str) -> None:
    with runtime.db.session() as session:
        accounts.update(
            session,
            tenant_id=principal.tenant_id,
            ref=account_id,
            data=AccountUpdate.model_validate({"smtp": {"password": password}}),
            vault=runtime.vault,
        )


def account(runtime: Runtime, account_id: int) -> Account:
    with runtime.db.session() as session:
        found = session.get(Account, account_id)
        assert found is not None
        return found


def paused_events(runtime: Runtime) -> list[dict]:
    with runtime.db.session() as session:
        return [
            e.payload
            for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == "account_paused")
            )
        ]


async def test_a_good_login_is_recorded(
    runtime: Runtime, smtp_account: int, sink: SmtpSink
) -> None:
    result = await health.check_account_health(runtime, account_id=smtp_account)
    assert result.ok and result.failures == 0 and not result.paused
    assert sink.logins == 1
    stored = account(runtime, smtp_account)
    assert stored.last_health_check_at is not None and stored.status == "active"


async def test_pauses_after_three_failures_and_resumes_when_fixed(
    runtime: Runtime, principal: Principal, smtp_account: int, sink: SmtpSink
) -> None:
    set_password(runtime, principal, smtp_account, "wrong")
    results = [
        await health.check_account_health(runtime, account_id=smtp_account) for _ in range(4)
    ]
    assert [r.ok for r in results] == [False] * 4
    assert [r.failures for r in results] == [1, 2, 3, 4]
    assert [r.paused for r in results] == [False, False, True, False]
    stored = account(runtime, smtp_account)
    assert stored.status == "paused"
    assert stored.status_reason is not None
    assert stored.status_reason.startswith("health check: login check failed 3 times in a row")
    events = paused_events(runtime)
    assert len(events) == 1 and events[0]["source"] == "health"
    assert events[0]["account_id"] == smtp_account

    set_password(runtime, principal, smtp_account, "secret")
    fixed = await health.check_account_health(runtime, account_id=smtp_account)
    assert fixed.ok and fixed.resumed
    stored = account(runtime, smtp_account)
    assert stored.status == "active" and stored.status_reason is None
    with runtime.db.session() as session:
        row = session.get(AccountCheck, smtp_account)
        assert row is not None and row.health_failures == 0 and not row.paused_by_health


async def test_an_operator_pause_is_left_alone(
    runtime: Runtime, principal: Principal, smtp_account: int
) -> None:
    with runtime.db.session() as session:
        accounts.update(
            session,
            tenant_id=principal.tenant_id,
            ref=smtp_account,
            data=AccountUpdate(status="paused"),
            vault=runtime.vault,
        )
        assert health.due_accounts(session, interval=0) == []
    result = await health.check_account_health(runtime, account_id=smtp_account)
    assert result.ok and not result.resumed
    assert account(runtime, smtp_account).status == "paused"


async def test_unknown_account(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        await health.check_account_health(runtime, account_id=424242)


async def test_the_loop_checks_on_schedule_and_pauses_an_unreachable_server(
    runtime: Runtime, principal: Principal, smtp_account: int, sink: SmtpSink
) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"health_check_interval_seconds": 0.2, "health_max_failures": 2}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(health.health_loop(runtime, stop))
    try:
        for _ in range(200):
            if sink.logins >= 2:
                break
            await asyncio.sleep(0.05)
        sink.stop()  # the server goes away: logins now fail to connect
        for _ in range(400):
            if account(runtime, smtp_account).status == "paused":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert sink.logins >= 2  # checked again on schedule while it worked
    stored = account(runtime, smtp_account)
    assert stored.status == "paused" and "2 times in a row" in (stored.status_reason or "")
    assert len(paused_events(runtime)) == 1

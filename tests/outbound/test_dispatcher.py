"""The dispatcher against a real SMTP server with injected faults."""

from __future__ import annotations

import asyncio
import email
import email.policy

from carteiro.outbound import service
from carteiro.outbound.models import Email, EmailAttempt
from carteiro.outbound.schemas import EmailCreate
from carteiro.outbound.worker import Dispatcher
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def enqueue(runtime: Runtime, principal: Principal, n: int = 1, **fields: object) -> list[int]:
    ids = []
    with runtime.db.session() as session:
        for i in range(n):
            data = EmailCreate(
                **{"to_email": f"r{i}@example.com", "subject": f"s{i}", "body": "b", **fields}
            )
            ids.append(
                service.create(session, principal=principal, data=data, settings=runtime.settings)[
                    0
                ].id
            )
    return ids


def attempts(runtime: Runtime, email_id: int) -> list[tuple[str, int | None]]:
    with runtime.db.session() as session:
        rows = session.query(EmailAttempt).filter_by(email_id=email_id).order_by(EmailAttempt.id)
        return [(a.outcome, a.smtp_code) for a in rows]


def settled(runtime: Runtime, ids: list[int], states: set[str]) -> bool:
    return all(email_status(runtime, i) in states for i in ids)


async def test_sends_through_starttls_auth_with_exact_bytes(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    (email_id,) = enqueue(
        runtime,
        principal,
        to_email="ana@example.com",
        cc_emails="cc@example.com",
        bcc_emails=["hidden@example.com"],
        subject="Relatório de março",
        html_body="<p>oi</p>",
    )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"
    (got,) = sink.messages
    with runtime.db.session() as session:
        stored = session.get(Email, email_id)
        assert stored is not None
        assert (
            got.data.replace(b"\r\n", b"\n").rstrip() == stored.raw.replace(b"\r\n", b"\n").rstrip()
        )
        assert got.message_id == stored.message_id
    assert got.mail_from == "sender@example.com"
    assert sorted(got.rcpt_tos) == ["ana@example.com", "cc@example.com", "hidden@example.com"]
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    assert parsed["Subject"] == "Relatório de março"
    assert "Equipe Carteiro" in str(parsed["From"])
    assert parsed["Bcc"] is None and b"hidden@example.com" not in got.data
    assert sink.logins >= 1


async def test_451_then_250_is_retried_and_sent(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.script(["451 4.3.0 Try again later", "250 OK"])
    (email_id,) = enqueue(runtime, principal)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"
    assert attempts(runtime, email_id) == [("deferred", 451), ("sent", 250)]
    with runtime.db.session() as session:
        assert session.get(Email, email_id).retry_count == 1  # type: ignore[union-attr]
    assert len(sink.messages) == 1


async def test_550_fails_permanently_without_retry(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.default_reply = "550 5.1.1 User unknown"
    (email_id,) = enqueue(runtime, principal)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "failed")
    assert email_status(runtime, email_id) == "failed"
    assert attempts(runtime, email_id) == [("failed", 550)]
    assert sink.messages == []


async def test_exhausted_retries_go_dead_then_requeue_sends(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.default_reply = "451 4.7.1 Greylisted"
    (email_id,) = enqueue(runtime, principal)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "dead")
    assert email_status(runtime, email_id) == "dead"
    assert [o for o, _ in attempts(runtime, email_id)] == ["deferred"] * 4
    sink.default_reply = None
    with runtime.db.session() as session:
        assert service.requeue_dead(session, principal=principal, error_type="smtp_4xx") == [
            email_id
        ]
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"
    assert len(sink.messages) == 1


async def test_dropped_connection_is_retried(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.script(["drop", "250 OK"])
    (email_id,) = enqueue(runtime, principal)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"
    outcomes = attempts(runtime, email_id)
    assert outcomes[0][0] == "deferred" and outcomes[-1] == ("sent", 250)


async def test_slow_reply_times_out_and_retries(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_timeout": 0.5})
    sink.script(["delay:1.5", "250 OK"])
    (email_id,) = enqueue(runtime, principal)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    with runtime.db.session() as session:
        rows = session.query(EmailAttempt).filter_by(email_id=email_id).order_by(EmailAttempt.id)
        kinds = [(a.outcome, a.error_type) for a in rows]
    assert kinds[0] == ("deferred", "timeout")
    assert kinds[-1] == ("sent", None)
    # The slow server did accept the first copy after we gave up: at-least-once, measured.
    assert 1 <= len(sink.messages) <= 2


async def test_connections_are_reused_and_bounded(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    ids = enqueue(runtime, principal, n=40)
    await run_dispatcher_until(runtime, lambda: settled(runtime, ids, {"sent"}))
    assert settled(runtime, ids, {"sent"})
    assert len(sink.messages) == 40
    assert 1 <= sink.connections <= 2  # max_connections defaults to 2


async def test_paused_account_holds_its_mail(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    from carteiro.accounts.models import Account

    (email_id,) = enqueue(runtime, principal)
    with runtime.db.session() as session:
        session.get(Account, smtp_account).status = "paused"  # type: ignore[union-attr]
    await run_dispatcher_until(runtime, lambda: False, timeout=0.5)
    assert email_status(runtime, email_id) == "pending"
    with runtime.db.session() as session:
        session.get(Account, smtp_account).status = "active"  # type: ignore[union-attr]
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"


async def test_shutdown_finishes_in_flight_sends(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.delay_seconds = 0.5
    ids = enqueue(runtime, principal, n=2)
    dispatcher = Dispatcher.from_runtime(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    for _ in range(100):
        if all(email_status(runtime, i) == "sending" for i in ids):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert settled(runtime, ids, {"sent"})


async def test_shutdown_past_grace_releases_unfinished(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"shutdown_grace_seconds": 0.1})
    sink.delay_seconds = 3
    (email_id,) = enqueue(runtime, principal)
    dispatcher = Dispatcher.from_runtime(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    for _ in range(100):
        if email_status(runtime, email_id) == "sending":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    with runtime.db.session() as session:
        row = session.get(Email, email_id)
        assert row is not None
        assert row.status == "pending" and row.lease_owner is None and row.attempts == 0

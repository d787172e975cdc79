"""Queue semantics on the real database: claim order, leases, fencing, retries, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carteiro.db.types import utcnow
from carteiro.mail.transports.base import PermanentFailure, SendResult, TemporaryFailure
from carteiro.outbound import queue, service
from carteiro.outbound.models import Email, EmailAttempt, EmailEvent
from carteiro.outbound.outcome import Outcome, RetryPolicy
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

POLICY = RetryPolicy(base_seconds=10, max_seconds=60)


def make(runtime: Runtime, principal: Principal, n: int = 1, **fields: object) -> list[int]:
    ids = []
    with runtime.db.session() as session:
        for i in range(n):
            data = EmailCreate(to_email=f"r{i}@example.com", subject=f"s{i}", body="b", **fields)
            email, _ = service.create(
                session, principal=principal, data=data, settings=runtime.settings
            )
            ids.append(email.id)
    return ids


def claim(runtime: Runtime, worker: str = "w1", limit: int = 10) -> list[queue.Claimed]:
    with runtime.db.session() as session:
        return queue.claim(session, worker_id=worker, limit=limit, lease_seconds=30)


def row(runtime: Runtime, email_id: int) -> Email:
    with runtime.db.session() as session:
        email = session.get(Email, email_id)
        assert email is not None
        return email


def ok(c: queue.Claimed) -> Outcome:
    return Outcome(c, "capture", utcnow(), 0.01, result=SendResult(250, "2.0.0 OK", 0.01))


def fail(c: queue.Claimed, exc: Exception) -> Outcome:
    return Outcome(c, "sink", utcnow(), 0.01, error=exc)  # type: ignore[arg-type]


def complete(runtime: Runtime, outcomes: list[Outcome], worker: str = "w1") -> int:
    with runtime.db.session() as session:
        return queue.complete(session, worker_id=worker, outcomes=outcomes, policy=POLICY)


def test_claim_orders_by_priority_then_time_and_leases(
    runtime: Runtime, principal: Principal
) -> None:
    low = make(runtime, principal, priority="low")[0]
    normal = make(runtime, principal)[0]
    urgent = make(runtime, principal, priority="urgent")[0]
    claimed = claim(runtime, limit=2)
    assert sorted(c.id for c in claimed) == sorted([urgent, normal])
    first = row(runtime, urgent)
    assert first.status == "sending" and first.lease_owner == "w1" and first.attempts == 1
    assert first.lease_until is not None and first.lease_until > utcnow()
    assert [c.id for c in claim(runtime)] == [low]
    assert claim(runtime) == []


def test_claim_skips_future_held_and_paused(runtime: Runtime, principal: Principal) -> None:
    future = make(runtime, principal, scheduled_at=utcnow() + timedelta(hours=1))[0]
    assert claim(runtime) == []
    assert row(runtime, future).status == "pending"


def test_ack_marks_sent_with_attempt_and_event(runtime: Runtime, principal: Principal) -> None:
    (email_id,) = make(runtime, principal)
    (c,) = claim(runtime)
    assert complete(runtime, [ok(c)]) == 1
    email = row(runtime, email_id)
    assert email.status == "sent" and email.sent_at is not None and email.lease_owner is None
    with runtime.db.session() as session:
        attempts = session.query(EmailAttempt).filter_by(email_id=email_id).all()
        types = [e.type for e in session.query(EmailEvent).filter_by(email_id=email_id)]
    assert [(a.number, a.smtp_code, a.outcome) for a in attempts] == [(1, 250, "sent")]
    assert types == ["queued", "sent"]


def test_ack_is_fenced_by_lease_owner(runtime: Runtime, principal: Principal) -> None:
    (email_id,) = make(runtime, principal)
    (c,) = claim(runtime, worker="w1")
    assert complete(runtime, [ok(c)], worker="someone-else") == 0
    assert row(runtime, email_id).status == "sending"


def test_temporary_failure_backs_off_then_dies(runtime: Runtime, principal: Principal) -> None:
    (email_id,) = make(runtime, principal)
    max_retries = row(runtime, email_id).max_retries
    assert max_retries == runtime.settings.email_max_retries == 3
    for retry in range(1, max_retries + 1):
        with runtime.db.session() as session:
            session.get(Email, email_id).run_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
        (c,) = claim(runtime)
        before = utcnow()
        complete(
            runtime, [fail(c, TemporaryFailure("451 4.3.0 later", code=451, error_type="smtp_4xx"))]
        )
        email = row(runtime, email_id)
        assert email.status == "pending" and email.retry_count == retry
        delay = (email.run_at - before).total_seconds()
        full = min(60, 10 * 2 ** (retry - 1))
        assert full / 2 - 1 <= delay <= full + 1
    with runtime.db.session() as session:
        session.get(Email, email_id).run_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    (c,) = claim(runtime)
    complete(runtime, [fail(c, TemporaryFailure("451 again", code=451, error_type="smtp_4xx"))])
    email = row(runtime, email_id)
    assert email.status == "dead" and email.attempts == max_retries + 1
    assert email.error_type == "smtp_4xx" and email.last_code == 451


def test_permanent_failure_is_failed_with_bounce_event(
    runtime: Runtime, principal: Principal
) -> None:
    (email_id,) = make(runtime, principal)
    (c,) = claim(runtime)
    complete(
        runtime,
        [fail(c, PermanentFailure("550 5.1.1 no such user", code=550, error_type="smtp_5xx"))],
    )
    email = row(runtime, email_id)
    assert email.status == "failed" and email.retry_count == 0 and email.last_code == 550
    with runtime.db.session() as session:
        types = [e.type for e in session.query(EmailEvent).filter_by(email_id=email_id)]
    assert types == ["queued", "failed", "bounce_hard"]


def test_expired_lease_is_recovered(runtime: Runtime, principal: Principal) -> None:
    (email_id,) = make(runtime, principal)
    (c,) = claim(runtime)
    with runtime.db.session() as session:
        assert queue.recover_expired(session) == []
        assert queue.recover_expired(session, now=utcnow() + timedelta(seconds=31)) == [email_id]
    email = row(runtime, email_id)
    assert email.status == "pending" and email.lease_owner is None
    assert email.error_type == "lease_expired"
    # The old owner's late ack must not overwrite the new state.
    assert complete(runtime, [ok(c)], worker="w1") == 0
    (again,) = claim(runtime, worker="w2")
    assert again.id == email_id and again.attempt == 2


def test_release_returns_without_counting_an_attempt(
    runtime: Runtime, principal: Principal
) -> None:
    (email_id,) = make(runtime, principal)
    (c,) = claim(runtime)
    with runtime.db.session() as session:
        assert queue.release(session, worker_id="w1", ids=[c.id]) == 1
    email = row(runtime, email_id)
    assert email.status == "pending" and email.attempts == 0 and email.lease_owner is None


def test_renew_extends_only_own_leases(runtime: Runtime, principal: Principal) -> None:
    (email_id,) = make(runtime, principal)
    claim(runtime)
    before = row(runtime, email_id).lease_until
    with runtime.db.session() as session:
        assert queue.renew(session, worker_id="other", ids=[email_id], lease_seconds=300) == 0
        assert queue.renew(session, worker_id="w1", ids=[email_id], lease_seconds=300) == 1
    assert row(runtime, email_id).lease_until > before  # type: ignore[operator]


def test_two_claimers_never_share_a_message(runtime: Runtime, principal: Principal) -> None:
    make(runtime, principal, n=30)
    a = claim(runtime, worker="a", limit=20)
    b = claim(runtime, worker="b", limit=20)
    assert len(a) == 20 and len(b) == 10
    assert not {c.id for c in a} & {c.id for c in b}


def test_stats_counts_by_status(runtime: Runtime, principal: Principal) -> None:
    make(runtime, principal, n=3)
    (c, *_rest) = claim(runtime, limit=1)
    complete(runtime, [ok(c)])
    with runtime.db.session() as session:
        stats = queue.stats(session, tenant_id=principal.tenant_id)
    assert stats.counts["pending"] == 2 and stats.counts["sent"] == 1
    assert stats.sent_last_minute == 1 and stats.oldest_pending_age_seconds >= 0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_backoff_is_exponential_capped_and_jittered(n: int) -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=30)
    full = min(30, 2 ** (n - 1))
    delays = {policy.delay(n) for _ in range(50)}
    assert all(full / 2 <= d <= full for d in delays)
    assert len(delays) > 1

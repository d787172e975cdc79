"""Account budgets, warm-up, the pool's weighted routing, the breaker and lanes — two workers,
a real SMTP server and a clock the test moves."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account, ConnectionLease
from carteiro.accounts.schemas import AccountCreate, AccountUpdate
from carteiro.outbound import queue, service
from carteiro.outbound.claim import Claim
from carteiro.outbound.claim import claim as claim_due
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import EmailCreate
from carteiro.outbound.worker import Dispatcher
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.smtp_server import SmtpSink


class Clock:
    def __init__(self) -> None:
        # Tomorrow morning: ahead of the real clock (mail created now is due) and far from a
        # day boundary whatever the time the suite runs.
        ahead = datetime.now(UTC) + timedelta(days=1)
        self.now = ahead.replace(hour=9, minute=0, second=5, microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def add_account(
    runtime: Runtime, principal: Principal, sink: SmtpSink, name: str, **extra: object
) -> int:
    data = AccountCreate(
        **{
            "name": name,
            "email": f"{name}@example.com",
            "smtp": {
                "host": sink.hostname,
                "port": sink.port,
                "username": "user",
                "password": extra.pop("password", "secret"),
                "ca_file": str(sink.cert_path),
            },
            **extra,
        }
    )
    with runtime.db.session() as session:
        return accounts.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id


def enqueue(runtime: Runtime, principal: Principal, n: int, **fields: object) -> list[int]:
    with runtime.db.session() as session:
        items = [
            EmailCreate(
                **{"to_email": f"r{i}@example.com", "subject": f"s{i}", "body": "b", **fields}
            )
            for i in range(n)
        ]
        return [
            e.id
            for e in service.create_batch(
                session, principal=principal, items=items, settings=runtime.settings
            )
        ]


def statuses(runtime: Runtime) -> collections.Counter[str]:
    with runtime.db.session() as session:
        return collections.Counter(session.scalars(select(Email.status)))


@pytest.fixture
def two_workers(runtime: Runtime, clock: Clock) -> Iterator[object]:
    """Starts two dispatchers (separate connections, one clock) inside the test's loop."""
    state: dict[str, object] = {}

    async def start() -> None:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(Dispatcher.from_runtime(runtime, clock=clock).run(stop))
            for _ in range(2)
        ]
        state.update(stop=stop, tasks=tasks)

    async def finish() -> None:
        state["stop"].set()  # type: ignore[attr-defined]
        await asyncio.gather(*state["tasks"])  # type: ignore[misc]

    yield start, finish


async def settle(runtime: Runtime, sink: SmtpSink, expect: int, timeout: float = 20) -> None:
    """Waits until `expect` messages arrived and nothing is in flight, then a little more to
    catch anything beyond the budget."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if len(sink.messages) >= expect and statuses(runtime)["sending"] == 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.4)


async def test_per_minute_limit_holds_across_two_workers(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    add_account(
        runtime, principal, sink, "limited", limits={"per_minute": 10, "max_connections": 4}
    )
    enqueue(runtime, principal, 35)
    start, finish = two_workers
    await start()
    try:
        for minute, expect in enumerate([10, 20, 30, 35]):
            await settle(runtime, sink, expect)
            assert len(sink.messages) == expect, f"minute {minute}"
            counts = statuses(runtime)
            assert counts["sent"] == expect and counts["pending"] == 35 - expect
            clock.advance(minutes=1)
    finally:
        await finish()
    with runtime.db.session() as session:
        # Waiting for budget never burns a retry.
        assert set(session.scalars(select(Email.retry_count))) == {0}
        assert set(session.scalars(select(Email.attempts))) == {1}
    assert len(set(sink.message_ids())) == 35


async def test_hour_and_day_limits_and_visible_budget(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    account_id = add_account(runtime, principal, sink, "acct", limits={"per_hour": 6, "per_day": 9})
    enqueue(runtime, principal, 12)
    start, finish = two_workers
    await start()
    try:
        await settle(runtime, sink, 6)
        assert len(sink.messages) == 6
        with runtime.db.session() as session:
            (view,) = accounts.public_with_usage(
                session,
                [accounts.get_or_raise(session, tenant_id=principal.tenant_id, ref=account_id)],
            )
        # The API reads the real clock; the budget it reports is for the real hour.
        assert view.usage is not None and view.usage.hour.limit == 6
        clock.advance(hours=1)
        await settle(runtime, sink, 9)
        assert len(sink.messages) == 9
        clock.advance(hours=1)
        await settle(runtime, sink, 9, timeout=1)
        assert len(sink.messages) == 9  # the day's 9 are used up
        clock.advance(days=1)
        await settle(runtime, sink, 12)
        assert len(sink.messages) == 12
    finally:
        await finish()


async def test_warmup_cap_grows_day_by_day(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    plan = {"start": 3, "factor": 2, "target": 100, "started_on": clock.now.date().isoformat()}
    add_account(runtime, principal, sink, "warm", warmup=plan)
    enqueue(runtime, principal, 20)
    start, finish = two_workers
    await start()
    try:
        for expect in (3, 9, 20):  # caps 3, 6, 12 on days 1, 2, 3
            await settle(runtime, sink, expect)
            assert len(sink.messages) == expect
            clock.advance(days=1)
    finally:
        await finish()


def test_warmup_status_and_validation(
    runtime: Runtime, principal: Principal, sink: SmtpSink
) -> None:
    from carteiro.accounts import limits
    from carteiro.errors import InvalidInput

    today = datetime(2026, 3, 10, tzinfo=UTC).date()
    plan = {"schedule": [50, 100, 200], "target": 500, "started_on": "2026-03-09"}
    status = limits.warmup_status(plan, today=today)
    assert status is not None and (status.day, status.cap, status.complete) == (2, 100, False)
    late = limits.warmup_status({**plan, "started_on": "2026-01-01"}, today=today)
    assert late is not None and late.cap == 500 and late.complete
    grow = limits.warmup_status(
        {"start": 50, "factor": 1.5, "target": 2000, "started_on": "2026-03-08"}, today=today
    )
    assert grow is not None and grow.cap == int(50 * 1.5**2)
    for bad in (
        {"start": 0, "target": 10},
        {"start": 5},
        {"schedule": [], "target": 5},
        {"start": 5, "factor": 1, "target": 9},
    ):
        with pytest.raises(InvalidInput):
            limits.validate_warmup(bad, today=today)
    account_id = add_account(runtime, principal, sink, "w", warmup={"start": 10, "target": 40})
    with runtime.db.session() as session:
        account = session.get(Account, account_id)
        assert account is not None and account.warmup is not None
        (view,) = accounts.public_with_usage(session, [account])
    assert view.warmup_status is not None and view.warmup_status.day == 1
    assert view.warmup_status.cap == 10 and view.usage is not None
    assert view.usage.day.limit == 10 and view.usage.day.remaining == 10


async def test_pool_routes_by_weight(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    # Enough connections that only the weights decide (a full account's share goes elsewhere).
    wide = {"max_connections": 50}
    add_account(runtime, principal, sink, "heavy", weight=3, limits=wide)
    add_account(runtime, principal, sink, "light", weight=1, limits=wide)
    enqueue(runtime, principal, 40)
    start, finish = two_workers
    await start()
    try:
        await settle(runtime, sink, 40)
    finally:
        await finish()
    senders = collections.Counter(m.mail_from for m in sink.messages)
    assert sum(senders.values()) == 40
    assert abs(senders["heavy@example.com"] - 30) <= 1, senders
    # The From header matches the account that really sent it.
    for m in sink.messages:
        assert f"From: {m.mail_from}".encode() in m.data


async def test_pool_skips_an_exhausted_account_and_from_routing(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    add_account(runtime, principal, sink, "tiny", limits={"per_day": 2}, weight=100)
    add_account(runtime, principal, sink, "other", weight=1)
    enqueue(runtime, principal, 10)
    routed = enqueue(runtime, principal, 2, from_email="@example.com")
    start, finish = two_workers
    await start()
    try:
        await settle(runtime, sink, 12)
    finally:
        await finish()
    senders = collections.Counter(m.mail_from for m in sink.messages)
    assert senders == {"tiny@example.com": 2, "other@example.com": 10}
    assert len(routed) == 2
    with runtime.db.session() as session:
        from carteiro.errors import InvalidInput

        with pytest.raises(InvalidInput) as err:
            service.create(
                session,
                principal=principal,
                data=EmailCreate(
                    to_email="a@example.com", subject="s", body="b", from_email="x@nowhere.org"
                ),
                settings=runtime.settings,
            )
        assert err.value.field == "from_email"


async def test_breaker_cools_down_after_repeated_failures_and_closes(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    runtime.settings = runtime.settings.model_copy(
        update={"breaker_failures": 3, "email_max_retries": 10}
    )
    account_id = add_account(runtime, principal, sink, "flaky")
    sink.default_reply = "451 4.3.0 Temporary local problem"
    (email_id,) = enqueue(runtime, principal, 1, account="flaky")
    start, finish = two_workers
    await start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            with runtime.db.session() as session:
                account = session.get(Account, account_id)
                if account is not None and account.cooldown_until is not None:
                    break
            clock.advance(seconds=1)  # lets each retry's backoff pass
            await asyncio.sleep(0.05)
        with runtime.db.session() as session:
            account = session.get(Account, account_id)
            assert account is not None and account.cooldown_until is not None
            assert "3 consecutive failures" in (account.status_reason or "")
            tries = session.get(Email, email_id).attempts  # type: ignore[union-attr]
        await asyncio.sleep(0.5)  # cooling: no further tries
        with runtime.db.session() as session:
            assert session.get(Email, email_id).attempts == tries  # type: ignore[union-attr]
        sink.default_reply = None
        clock.advance(seconds=61)
        await settle(runtime, sink, 1)
    finally:
        await finish()
    with runtime.db.session() as session:
        account = session.get(Account, account_id)
        assert account is not None and account.consecutive_failures == 0
        assert session.get(Email, email_id).status == "sent"  # type: ignore[union-attr]


async def test_throttling_cools_at_once_without_burning_a_retry(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    account_id = add_account(runtime, principal, sink, "busy")
    sink.script(["454 4.7.0 Throttling failure: Maximum sending rate exceeded"])
    (email_id,) = enqueue(runtime, principal, 1, account="busy")
    start, finish = two_workers
    await start()
    try:
        await asyncio.sleep(0.6)
        with runtime.db.session() as session:
            email = session.get(Email, email_id)
            account = session.get(Account, account_id)
            assert email is not None and account is not None
            assert email.status == "pending" and email.retry_count == 0
            assert account.cooldown_until is not None and "throttled" in (
                account.status_reason or ""
            )
        clock.advance(seconds=61)
        await settle(runtime, sink, 1)
    finally:
        await finish()
    assert len(sink.messages) == 1


async def test_bad_credentials_pause_the_account_and_pool_mail_reroutes(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    bad = add_account(runtime, principal, sink, "bad", password="wrong", weight=1000)
    add_account(runtime, principal, sink, "good", weight=1)
    pinned = enqueue(runtime, principal, 2, account="bad")
    enqueue(runtime, principal, 5)
    start, finish = two_workers
    await start()
    try:
        await settle(runtime, sink, 5)
    finally:
        await finish()
    assert collections.Counter(m.mail_from for m in sink.messages) == {"good@example.com": 5}
    with runtime.db.session() as session:
        account = session.get(Account, bad)
        assert account is not None and account.status == "paused"
        assert "authentication failed" in (account.status_reason or "")
        # Webhooks hear about it (account_paused goes through the outbox).
        from carteiro.events.models import OutboxEvent

        paused = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "account_paused"))
        assert [e.payload["account"] for e in paused] == ["bad"]
        for email_id in pinned:
            email = session.get(Email, email_id)
            assert email is not None and email.status == "pending" and email.retry_count == 0
        accounts.update(
            session,
            tenant_id=principal.tenant_id,
            ref=bad,
            data=AccountUpdate(status="active"),
            vault=runtime.vault,
        )
        account = session.get(Account, bad)
        assert account is not None and account.status_reason is None


def test_transactional_lane_goes_before_bulk(runtime: Runtime, principal: Principal) -> None:
    bulk = enqueue(runtime, principal, 30, priority="urgent")  # bulk lane, even when urgent
    with runtime.db.session() as session:
        transactional = [
            service.create(
                session,
                principal=principal,
                data=EmailCreate(to_email="t@example.com", subject="t", body="b", priority="low"),
                settings=runtime.settings,
            )[0].id
            for _ in range(3)
        ]
    with runtime.db.session() as session:
        first = queue.claim(session, worker_id="w", limit=5, lease_seconds=30)
    # All transactional mail first (even low priority), then bulk in priority and time order.
    assert {c.id for c in first} == {*transactional, *bulk[:2]}


def leased_slots(runtime: Runtime) -> list[tuple[int, int, str]]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(ConnectionLease.account_id, ConnectionLease.slot, ConnectionLease.worker)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_max_connections_hold_across_two_workers(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock, two_workers
) -> None:  # type: ignore[no-untyped-def]
    add_account(runtime, principal, sink, "narrow", limits={"max_connections": 3})
    # Slow replies keep connections busy, so both workers want more than there are.
    sink.delay_seconds = 0.02
    enqueue(runtime, principal, 60)
    start, finish = two_workers
    await start()
    try:
        await settle(runtime, sink, 60)
        assert len(sink.messages) == 60
        slots = leased_slots(runtime)
        assert len(slots) <= 3 and {s for _, s, _ in slots} <= {0, 1, 2}
    finally:
        await finish()
    # Each worker's pool alone may hold 3; together they never passed the account's limit.
    assert 2 <= sink.peak_connections <= 3, sink.peak_connections
    assert len(set(sink.message_ids())) == 60
    assert leased_slots(runtime) == []  # a stopping worker gives its slots back


async def test_idle_worker_gives_its_slots_back(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock
) -> None:
    add_account(runtime, principal, sink, "idle", limits={"max_connections": 2})
    enqueue(runtime, principal, 6)
    dispatcher = Dispatcher.from_runtime(runtime, clock=clock)
    dispatcher.config = dataclasses.replace(dispatcher.config, slot_idle_seconds=0.3)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await settle(runtime, sink, 6)
        assert len(sink.messages) == 6
        for _ in range(60):
            if not leased_slots(runtime) and sink.open_connections == 0:
                break
            await asyncio.sleep(0.1)
        # Still running, but with nothing to send it closed its connections and freed the
        # slots for other workers.
        assert not task.done()
        assert leased_slots(runtime) == [] and sink.open_connections == 0
        enqueue(runtime, principal, 2)
        await settle(runtime, sink, 8)
        assert len(sink.messages) == 8
    finally:
        stop.set()
        await task


def test_claim_takes_slots_and_claims_depth_per_slot(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock
) -> None:
    account_id = add_account(runtime, principal, sink, "two", limits={"max_connections": 2})
    enqueue(runtime, principal, 20)

    def take(worker: str, **kwargs: object) -> Claim:
        with runtime.db.session() as session:
            return claim_due(
                session,
                worker_id=worker,
                limit=50,
                lease_seconds=30,
                now=clock.now,
                depth=3,
                **kwargs,  # type: ignore[arg-type]
            )

    first = take("w1")
    # Both slots, three messages ahead on each.
    assert len(first.items) == 6 and first.slots == {account_id: 2}
    assert sorted(s for _, s, _ in leased_slots(runtime)) == [0, 1]
    # Nothing left for a second worker, and the first one's backlog fills its slots.
    assert take("w2").items == [] and take("w1").items == []
    # A worker's own connection cap holds across accounts.
    with runtime.db.session() as session:
        session.execute(delete(ConnectionLease))
    assert len(take("w3", max_slots=1).items) == 3
    # Slots whose worker vanished free themselves with the lease.
    clock.advance(seconds=31)
    later = take("w2")
    assert len(later.items) == 6 and later.slots == {account_id: 2}
    assert {w for _, _, w in leased_slots(runtime)} == {"w2"}


def test_claims_for_different_accounts_do_not_wait_for_each_other(
    runtime: Runtime, principal: Principal, sink: SmtpSink, clock: Clock
) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; row locks are PostgreSQL's")
    a = add_account(runtime, principal, sink, "a")
    b = add_account(runtime, principal, sink, "b")
    enqueue(runtime, principal, 3, account="a")
    later = clock.now + timedelta(minutes=30)
    enqueue(runtime, principal, 3, account="b", scheduled_at=later)
    sessions = [Session(runtime.db.engine) for _ in range(3)]
    first, second, api = sessions
    try:
        for session in sessions:
            # A wait would be the bug: fail after 2 s instead of hanging.
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
        # b's mail is not due yet: this claim locks a's row and a's messages only.
        taken = claim_due(first, worker_id="w1", limit=10, lease_seconds=30, now=clock.now)
        assert [c.account_id for c in taken.items] == [a, a, a]
        # Before, every claim locked every active account and this one waited for the first.
        other = claim_due(
            second, worker_id="w2", limit=10, lease_seconds=30, now=later + timedelta(minutes=1)
        )
        assert [c.account_id for c in other.items] == [b, b, b]
        # The API's inserts only need the accounts' keys (FOR KEY SHARE), which claims leave
        # alone (FOR NO KEY UPDATE): enqueueing never waits for a claim.
        items = [
            EmailCreate(to_email="x@example.com", subject="s", body="b", account=n) for n in "ab"
        ]
        queued = service.create_batch(
            api, principal=principal, items=items, settings=runtime.settings
        )
        assert len(queued) == 2
        for session in sessions:
            session.commit()
    finally:
        for session in sessions:
            session.close()

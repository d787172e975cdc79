"""The durable queue: claim with leases, ack per message, retry with backoff, recover, stats."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.db.base import table_of
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.events.bus import Bus, EmailSettled
from carteiro.leads import suppression
from carteiro.mail.replies import ReplyClass, classify_reply
from carteiro.outbound import breaker
from carteiro.outbound.claim import Claimed
from carteiro.outbound.claim import claim as claim_due
from carteiro.outbound.claim import finish as finish_claim
from carteiro.outbound.models import STATUSES, Email, EmailAttempt, EmailEvent
from carteiro.outbound.outcome import Outcome, RetryPolicy
from carteiro.outbound.schemas import QueueStats

# Core, not ORM, statements on the hot path: the ORM bulk layer cost a quarter of a
# worker's time.
EMAILS = table_of(Email)


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    vault: Vault | None = None,
) -> list[Claimed]:
    """Takes up to `limit` due messages in lane and priority order within account budgets
    (and the connection slots they need; see `claim.claim` for the worker's view of both).
    In one transaction: the worker rewrites re-routed mail in a second one."""
    now = now or utcnow()
    claimed = claim_due(
        session, worker_id=worker_id, limit=limit, lease_seconds=lease_seconds, now=now
    )
    return finish_claim(session, claimed, worker_id=worker_id, vault=vault, now=now).items


def complete(
    session: Session,
    *,
    worker_id: str,
    outcomes: list[Outcome],
    policy: RetryPolicy,
    now: datetime | None = None,
    bus: Bus | None = None,
) -> int:
    """Records a group of outcomes; updates are fenced by the lease so a lost lease changes
    nothing. Returns how many rows this worker still owned. Final states are published on
    `bus` (as `EmailSettled`) in the same transaction."""
    if not outcomes:
        return 0
    now = now or utcnow()
    ack = _Ack()
    for o in outcomes:
        if o.error is None:
            _sent(ack, o)
        else:
            ack.owned += _fenced(session, [o.email.id], worker_id, _failed(ack, o, policy, now))
    for code, ids in ack.sent_by_code.items():
        ack.owned += _fenced(session, ids, worker_id, _sent_values(code, now))
    session.execute(insert(table_of(EmailAttempt)), [_attempt(o, worker_id) for o in outcomes])
    session.execute(insert(table_of(EmailEvent)), _events(ack.events, now))
    breaker.record(session, outcomes=outcomes, policy=policy, now=now)
    _suppress_bounced(session, ack.bounced)
    if bus is not None:
        _publish(session, bus, ack.events)
    return ack.owned


_SETTLED = {"sent": "sent", "failed": "failed", "dead": "dead", "bounce_hard": "bounced"}


def _publish(
    session: Session, bus: Bus, events: list[tuple[Claimed, str, dict[str, Any] | None]]
) -> None:
    for c, kind, detail in events:
        status = _SETTLED.get(kind)
        if status is not None:
            reply = (detail or {}).get("reply")
            settled = EmailSettled(
                tenant_id=c.tenant_id,
                email_id=c.id,
                status=status,  # type: ignore[arg-type]  # one of the Literal's values
                detail=str(reply) if reply else None,
            )
            bus.publish(session, settled)


@dataclass
class _Ack:
    """What a group of outcomes adds up to, gathered before it is written."""

    owned: int = 0
    events: list[tuple[Claimed, str, dict[str, Any] | None]] = field(default_factory=list)
    sent_by_code: dict[int, list[int]] = field(default_factory=dict)
    bounced: dict[int, set[str]] = field(default_factory=dict)


def _attempt(o: Outcome, worker_id: str) -> dict[str, Any]:
    err = o.error
    return {
        "email_id": o.email.id,
        "number": o.email.attempt,
        "started_at": o.started_at,
        "duration_ms": int(o.duration * 1000),
        "account": o.account,
        "worker": worker_id,
        "outcome": "sent" if err is None else ("failed" if err.permanent else "deferred"),
        "smtp_code": o.result.code if o.result else (err.code if err else None),
        "smtp_reply": (o.result.reply if o.result else err.reply if err else None),
        "error_type": err.error_type if err else None,
    }


def _sent(ack: _Ack, o: Outcome) -> None:
    """A delivered message; recipients the server refused with a hard bounce are suppressed."""
    assert o.result is not None
    ack.sent_by_code.setdefault(o.result.code, []).append(o.email.id)
    detail: dict[str, Any] = {"account": o.account}
    if o.result.refused:
        detail["refused"] = {k: list(v) for k, v in o.result.refused.items()}
        for address, (code, reply) in o.result.refused.items():
            if classify_reply(code, reply) == ReplyClass.HARD_BOUNCE:
                ack.bounced.setdefault(o.email.tenant_id, set()).add(address)
    ack.events.append((o.email, "sent", detail))


def _sent_values(code: int, now: datetime) -> dict[str, Any]:
    return {
        "status": "sent",
        "sent_at": now,
        "lease_owner": None,
        "lease_until": None,
        "error_message": None,
        "error_type": None,
        "last_code": code,
        "updated_at": now,
    }


def _failed(ack: _Ack, o: Outcome, policy: RetryPolicy, now: datetime) -> dict[str, Any]:
    """The row's next state after a failed try: one of four transitions."""
    err = o.error
    assert err is not None
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_until": None,
        "error_message": err.reply[:2000],
        "error_type": err.error_type,
        "last_code": err.code,
        "updated_at": now,
    }
    detail = {"account": o.account, "code": err.code, "reply": err.reply[:500]}
    kind = breaker.kind_of(err)
    if kind in (ReplyClass.AUTH, ReplyClass.THROTTLED) and o.email.account_id is not None:
        values.update(_account_fault(ack, o, kind, detail, policy, now))
    elif err.permanent:
        values.update(_permanent(ack, o, kind, detail))
    elif o.email.retry_count < o.email.max_retries:
        values.update(_retry(ack, o, detail, policy, now))
    else:
        values["status"] = "dead"
        ack.events.append((o.email, "dead", detail))
    return values


def _account_fault(
    ack: _Ack,
    o: Outcome,
    kind: ReplyClass,
    detail: dict[str, Any],
    policy: RetryPolicy,
    now: datetime,
) -> dict[str, Any]:
    """The account's fault, not the message's: wait (or re-route) without a retry."""
    wait = policy.cooldown_seconds if kind == ReplyClass.THROTTLED else 0.0
    ack.events.append((o.email, "deferred", {**detail, "retry": None, "reason": kind.value}))
    return {
        "status": "pending",
        "run_at": now + timedelta(seconds=wait),
        "attempts": EMAILS.c.attempts - 1,
    }


def _permanent(ack: _Ack, o: Outcome, kind: ReplyClass, detail: dict[str, Any]) -> dict[str, Any]:
    ack.events.append((o.email, "failed", {**detail, "class": kind.value}))
    if kind == ReplyClass.HARD_BOUNCE:
        ack.events.append((o.email, "bounce_hard", detail))
        # Which address bounced is only certain for a single recipient.
        if len(o.email.recipients) == 1:
            ack.bounced.setdefault(o.email.tenant_id, set()).update(o.email.recipients)
    return {"status": "failed"}


def _retry(
    ack: _Ack, o: Outcome, detail: dict[str, Any], policy: RetryPolicy, now: datetime
) -> dict[str, Any]:
    retry_number = o.email.retry_count + 1
    ack.events.append((o.email, "deferred", {**detail, "retry": retry_number}))
    return {
        "status": "pending",
        "retry_count": retry_number,
        "run_at": now + timedelta(seconds=policy.delay(retry_number)),
    }


def _fenced(session: Session, ids: list[int], worker_id: str, values: dict[str, Any]) -> int:
    """Updates rows this worker still leases; returns how many it did."""
    fence = (EMAILS.c.lease_owner == worker_id) & (EMAILS.c.status == "sending")
    stmt = update(EMAILS).where(EMAILS.c.id.in_(ids), fence).values(**values)
    return dml(session, stmt, execution_options={"synchronize_session": False}).rowcount


def _events(
    rows: list[tuple[Claimed, str, dict[str, Any] | None]], now: datetime
) -> list[dict[str, Any]]:
    return [
        {"tenant_id": c.tenant_id, "email_id": c.id, "type": t, "detail": d, "created_at": now}
        for c, t, d in rows
    ]


def _suppress_bounced(session: Session, bounced: dict[int, set[str]]) -> None:
    for tenant_id, addresses in bounced.items():
        suppression.suppress_many(
            session,
            tenant_id=tenant_id,
            emails=sorted(addresses),
            reason="hard_bounce",
            source="smtp",
        )


def renew(
    session: Session,
    *,
    worker_id: str,
    ids: list[int],
    lease_seconds: float,
    now: datetime | None = None,
) -> int:
    if not ids:
        return 0
    until = (now or utcnow()) + timedelta(seconds=lease_seconds)
    return dml(
        session,
        update(EMAILS)
        .where(
            EMAILS.c.id.in_(ids), EMAILS.c.lease_owner == worker_id, EMAILS.c.status == "sending"
        )
        .values(lease_until=until),
        execution_options={"synchronize_session": False},
    ).rowcount


def release(session: Session, *, worker_id: str, ids: list[int]) -> int:
    """Returns claimed-but-unsent messages to the queue without counting an attempt."""
    if not ids:
        return 0
    return dml(
        session,
        update(EMAILS)
        .where(
            EMAILS.c.id.in_(ids), EMAILS.c.lease_owner == worker_id, EMAILS.c.status == "sending"
        )
        .values(
            status="pending",
            lease_owner=None,
            lease_until=None,
            attempts=EMAILS.c.attempts - 1,
            updated_at=utcnow(),
        ),
        execution_options={"synchronize_session": False},
    ).rowcount


def recover_expired(session: Session, *, now: datetime | None = None) -> list[int]:
    """Messages whose worker vanished go back to pending (at-least-once delivery)."""
    now = now or utcnow()
    stmt = (
        update(EMAILS)
        .where(EMAILS.c.status == "sending", EMAILS.c.lease_until < now)
        .values(
            status="pending",
            lease_owner=None,
            lease_until=None,
            error_message="the worker sending it stopped before acknowledging (lease expired)",
            error_type="lease_expired",
            updated_at=now,
        )
        .returning(EMAILS.c.id, EMAILS.c.tenant_id)
    )
    rows = session.execute(stmt, execution_options={"synchronize_session": False}).all()
    if rows:
        session.execute(
            insert(table_of(EmailEvent)),
            [
                {"tenant_id": r.tenant_id, "email_id": r.id, "type": "recovered", "created_at": now}
                for r in rows
            ],
        )
    return [r.id for r in rows]


def _scope(tenant_id: int | None, account_ids: Collection[int] | None) -> list[Any]:
    scope: list[Any] = [EMAILS.c.tenant_id == tenant_id] if tenant_id is not None else []
    if account_ids is not None:
        scope.append(EMAILS.c.account_id.in_(sorted(account_ids)))
    return scope


def counts(
    session: Session,
    *,
    tenant_id: int | None = None,
    account_ids: Collection[int] | None = None,
) -> dict[str, int]:
    """Messages per status (every status, zeros included): the cheap part of `stats`.

    `account_ids`: only mail of those accounts (a person who sees only some mailboxes)."""
    scope = _scope(tenant_id, account_ids)
    stmt = select(EMAILS.c.status, func.count(EMAILS.c.id)).where(*scope).group_by(EMAILS.c.status)
    found: dict[str, int] = {status: n for status, n in session.execute(stmt)}
    return {s: found.get(s, 0) for s in STATUSES}


def stats(
    session: Session,
    *,
    tenant_id: int | None = None,
    account_ids: Collection[int] | None = None,
    now: datetime | None = None,
) -> QueueStats:
    now = now or utcnow()
    scope = _scope(tenant_id, account_ids)
    found = counts(session, tenant_id=tenant_id, account_ids=account_ids)
    oldest = session.scalar(
        select(func.min(EMAILS.c.created_at)).where(*scope, EMAILS.c.status == "pending")
    )

    def sent_since(seconds: int) -> int:
        since = now - timedelta(seconds=seconds)
        # A literal, as the partial index ix_emails_tenant_sent spells it (a bound parameter
        # would not let SQLite prove the index covers the rows).
        sent = EMAILS.c.status == literal_column("'sent'")
        stmt = select(func.count(EMAILS.c.id)).where(*scope, sent, EMAILS.c.sent_at >= since)
        return session.scalar(stmt) or 0

    return QueueStats(
        counts=found,
        oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
        sent_last_minute=sent_since(60),
        sent_last_hour=sent_since(3600),
    )

"""The durable queue: claim with leases, ack per message, retry with backoff, recover, stats."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.db.types import utcnow
from carteiro.leads import suppression
from carteiro.mail.replies import ReplyClass, classify_reply
from carteiro.mail.transports.base import DeliveryError, SendResult
from carteiro.outbound import breaker
from carteiro.outbound.claim import Claimed
from carteiro.outbound.claim import claim as claim_due
from carteiro.outbound.models import STATUSES, Email, EmailAttempt, EmailEvent

# Core, not ORM, statements on the hot path: the ORM bulk layer cost a quarter of a
# worker's time.
EMAILS = Email.__table__


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery try, to be acked."""

    email: Claimed
    account: str
    started_at: datetime
    duration: float
    result: SendResult | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 30.0
    # Circuit breaker: this many consecutive connection failures or 4xx replies pause an
    # account for the cool-down; provider throttling pauses it at once.
    breaker_failures: int = 5
    cooldown_seconds: float = 60.0

    def delay(self, retry_number: int) -> float:
        """Exponential (1 s, 2 s, 4 s … capped) with equal jitter so retries spread out."""
        full = min(self.max_seconds, self.base_seconds * 2 ** max(0, retry_number - 1))
        return full / 2 + random.uniform(0, full / 2)


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
    (and the connection slots they need; see `claim.claim` for the worker's view of both)."""
    return claim_due(
        session,
        worker_id=worker_id,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now or utcnow(),
        vault=vault,
    ).items


def _events(rows: list[tuple[Claimed, str, dict | None]]) -> list[dict]:
    return [
        {"tenant_id": c.tenant_id, "email_id": c.id, "type": t, "detail": d, "created_at": utcnow()}
        for c, t, d in rows
    ]


def complete(
    session: Session,
    *,
    worker_id: str,
    outcomes: list[Outcome],
    policy: RetryPolicy,
    now: datetime | None = None,
) -> int:
    """Records a group of outcomes; updates are fenced by the lease so a lost lease changes
    nothing. Returns how many rows this worker still owned."""
    if not outcomes:
        return 0
    now = now or utcnow()
    attempts = []
    events: list[tuple[Claimed, str, dict | None]] = []
    owned = 0
    fence = (EMAILS.c.lease_owner == worker_id) & (EMAILS.c.status == "sending")
    sent_by_code: dict[int, list[int]] = {}
    bounced: dict[int, set[str]] = {}
    for o in outcomes:
        err = o.error
        attempts.append(
            {
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
        )
        if err is None:
            assert o.result is not None
            sent_by_code.setdefault(o.result.code, []).append(o.email.id)
            detail = {"account": o.account}
            if o.result.refused:
                detail["refused"] = {k: list(v) for k, v in o.result.refused.items()}
                for address, (code, reply) in o.result.refused.items():
                    if classify_reply(code, reply) == ReplyClass.HARD_BOUNCE:
                        bounced.setdefault(o.email.tenant_id, set()).add(address)
            events.append((o.email, "sent", detail))
            continue
        values: dict = {
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
            # The account's fault, not the message's: wait (or re-route) without a retry.
            wait = policy.cooldown_seconds if kind == ReplyClass.THROTTLED else 0.0
            values.update(status="pending", run_at=now + timedelta(seconds=wait))
            values["attempts"] = EMAILS.c.attempts - 1
            events.append((o.email, "deferred", {**detail, "retry": None, "reason": kind.value}))
        elif err.permanent:
            values["status"] = "failed"
            events.append((o.email, "failed", {**detail, "class": kind.value}))
            if kind == ReplyClass.HARD_BOUNCE:
                events.append((o.email, "bounce_hard", detail))
                # Which address bounced is only certain for a single recipient.
                if len(o.email.recipients) == 1:
                    bounced.setdefault(o.email.tenant_id, set()).update(o.email.recipients)
        elif o.email.retry_count < o.email.max_retries:
            retry_number = o.email.retry_count + 1
            values.update(
                status="pending",
                retry_count=retry_number,
                run_at=now + timedelta(seconds=policy.delay(retry_number)),
            )
            events.append((o.email, "deferred", {**detail, "retry": retry_number}))
        else:
            values["status"] = "dead"
            events.append((o.email, "dead", detail))
        owned += session.execute(
            update(EMAILS).where(EMAILS.c.id == o.email.id, fence).values(**values),
            execution_options={"synchronize_session": False},
        ).rowcount
    for code, ids in sent_by_code.items():
        owned += session.execute(
            update(EMAILS)
            .where(EMAILS.c.id.in_(ids), fence)
            .values(
                status="sent",
                sent_at=now,
                lease_owner=None,
                lease_until=None,
                error_message=None,
                error_type=None,
                last_code=code,
                updated_at=now,
            ),
            execution_options={"synchronize_session": False},
        ).rowcount
    session.execute(insert(EmailAttempt.__table__), attempts)
    session.execute(insert(EmailEvent.__table__), _events(events))
    breaker.record(session, outcomes=outcomes, policy=policy, now=now)
    for tenant_id, addresses in bounced.items():
        suppression.suppress_many(
            session,
            tenant_id=tenant_id,
            emails=sorted(addresses),
            reason="hard_bounce",
            source="smtp",
        )
    return owned


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
    return session.execute(
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
    return session.execute(
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
            insert(EmailEvent.__table__),
            [
                {"tenant_id": r.tenant_id, "email_id": r.id, "type": "recovered", "created_at": now}
                for r in rows
            ],
        )
    return [r.id for r in rows]


def stats(session: Session, *, tenant_id: int | None = None, now: datetime | None = None) -> dict:
    now = now or utcnow()
    scope = [EMAILS.c.tenant_id == tenant_id] if tenant_id is not None else []
    counts = dict(
        session.execute(
            select(EMAILS.c.status, func.count(EMAILS.c.id)).where(*scope).group_by(EMAILS.c.status)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(EMAILS.c.created_at)).where(*scope, EMAILS.c.status == "pending")
    )

    def sent_since(seconds: int) -> int:
        since = now - timedelta(seconds=seconds)
        stmt = select(func.count(EMAILS.c.id)).where(
            *scope, EMAILS.c.status == "sent", EMAILS.c.sent_at >= since
        )
        return session.scalar(stmt) or 0

    return {
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "oldest_pending_age_seconds": (now - oldest).total_seconds() if oldest else None,
        "sent_last_minute": sent_since(60),
        "sent_last_hour": sent_since(3600),
    }

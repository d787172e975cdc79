"""The job queue of the responder: enqueue, claim with a lease, complete, fail, requeue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from carteiro.db.claims import claim_rows
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.loops import Backoff
from carteiro.responder.classify import Classification
from carteiro.responder.models import ResponderJob

FINAL = ("failed", "dead_letter")


@dataclass(frozen=True)
class Claimed:
    id: int
    tenant_id: int
    rule_id: int | None
    message_id: int
    mode: str
    attempt: int
    claimed_at: datetime


def enqueue(
    session: Session,
    *,
    tenant_id: int,
    rule_id: int,
    message_id: int,
    thread_id: int,
    mode: str,
) -> ResponderJob:
    job = ResponderJob(
        tenant_id=tenant_id,
        rule_id=rule_id,
        message_id=message_id,
        thread_id=thread_id,
        mode=mode,
        status="pending",
        next_retry_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def claim(session: Session, *, owner: str, limit: int, lease_seconds: float) -> list[Claimed]:
    """Leases up to `limit` due jobs to `owner`: pending ones whose time came, and processing
    ones whose worker vanished (its lease ran out: a crash loses no job)."""
    now = utcnow()
    due = or_(
        and_(ResponderJob.status == "pending", ResponderJob.next_retry_at <= now),
        and_(ResponderJob.status == "processing", ResponderJob.lease_until < now),
    )
    rows = session.execute(
        claim_rows(
            session,
            ResponderJob,
            key=ResponderJob.id,
            where=due,
            order_by=[ResponderJob.next_retry_at, ResponderJob.id],
            limit=limit,
        )
        .values(
            status="processing",
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempt_count=ResponderJob.attempt_count + 1,
            started_at=now,
            updated_at=now,
        )
        .returning(
            ResponderJob.id,
            ResponderJob.tenant_id,
            ResponderJob.rule_id,
            ResponderJob.message_id,
            ResponderJob.mode,
            ResponderJob.attempt_count,
        ),
        execution_options={"synchronize_session": False},
    ).all()
    return sorted(
        (
            Claimed(
                id=r.id,
                tenant_id=r.tenant_id,
                rule_id=r.rule_id,
                message_id=r.message_id,
                mode=r.mode,
                attempt=r.attempt_count,
                claimed_at=now,
            )
            for r in rows
        ),
        key=lambda c: c.id,
    )


def _fenced(session: Session, job: Claimed, owner: str, values: dict[str, Any]) -> bool:
    fence = and_(
        ResponderJob.id == job.id,
        ResponderJob.lease_owner == owner,
        ResponderJob.status == "processing",
    )
    values = {"lease_owner": None, "lease_until": None, "updated_at": utcnow(), **values}
    result = dml(
        session,
        update(ResponderJob).where(fence).values(**values),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


def release(session: Session, *, job: Claimed, owner: str, wait: float) -> bool:
    """Puts a job back untried (the token budget is spent): its attempt does not count."""
    return _fenced(
        session,
        job,
        owner,
        {
            "status": "pending",
            "attempt_count": ResponderJob.attempt_count - 1,
            "next_retry_at": utcnow() + timedelta(seconds=wait),
        },
    )


def complete(
    session: Session,
    *,
    job: Claimed,
    owner: str,
    email_id: int | None,
    tokens: int,
    provider: str,
    draft: str,
    classification: Classification | None = None,
) -> bool:
    """Marks the job done, fenced by the lease; False if another worker took it meanwhile
    (the caller then rolls its reply back)."""
    now = utcnow()
    return _fenced(
        session,
        job,
        owner,
        {
            "status": "completed",
            "email_id": email_id,
            "tokens_used": tokens,
            "provider": provider,
            "draft": draft,
            "intent": classification.intent if classification else None,
            "urgency": classification.urgency if classification else None,
            "language": classification.language if classification else None,
            "error_type": None,
            "error_message": None,
            "completed_at": now,
            "processing_time_ms": _elapsed_ms(job, now),
        },
    )


def _elapsed_ms(job: Claimed, now: datetime) -> int:
    return max(0, int((now - job.claimed_at).total_seconds() * 1000))


def fail(
    session: Session,
    *,
    job: Claimed,
    owner: str,
    message: str,
    error_type: str,
    is_retryable: bool,
    backoff: Backoff,
    max_attempts: int,
    retry_after: float | None = None,
    counts: bool = True,
) -> str:
    """The seed's fail_job: retry with backoff via next_retry_at, or `dead_letter` once the
    attempts ran out, or `failed` when retrying cannot help. Returns the new status.

    `counts=False` (the provider's rate limit) retries without spending an attempt."""
    now = utcnow()
    attempts_left = job.attempt < max_attempts or not counts
    values: dict[str, Any] = {
        "max_attempts": max_attempts,
        "error_type": error_type,
        "error_message": message[:2000],
        "processing_time_ms": _elapsed_ms(job, now),
    }
    if is_retryable and attempts_left:
        delay = backoff.delay(job.attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        values.update(status="pending", next_retry_at=now + timedelta(seconds=delay))
        if not counts:
            values["attempt_count"] = ResponderJob.attempt_count - 1
    else:
        values.update(status="dead_letter" if is_retryable else "failed", completed_at=now)
    _fenced(session, job, owner, values)
    return str(values["status"])


def requeue(
    session: Session,
    *,
    tenant_id: int,
    job_ids: list[int] | None = None,
    error_type: str | None = None,
    reset_attempts: bool = True,
) -> list[int]:
    """The seed's requeue_dlq_job and bulk requeue by error_type: failed and dead-letter jobs
    of the tenant go back to pending now. Returns the ids requeued."""
    where = [ResponderJob.tenant_id == tenant_id, ResponderJob.status.in_(FINAL)]
    if job_ids is not None:
        where.append(ResponderJob.id.in_(job_ids))
    if error_type is not None:
        where.append(ResponderJob.error_type == error_type)
    ids = list(session.scalars(select(ResponderJob.id).where(*where).order_by(ResponderJob.id)))
    if not ids:
        return []
    now = utcnow()
    values: dict[str, Any] = {
        "status": "pending",
        "next_retry_at": now,
        "completed_at": None,
        "updated_at": now,
    }
    if reset_attempts:
        values["attempt_count"] = 0
    for part in range(0, len(ids), 500):
        dml(
            session,
            update(ResponderJob)
            .where(ResponderJob.id.in_(ids[part : part + 500]), ResponderJob.status.in_(FINAL))
            .values(**values),
            execution_options={"synchronize_session": False},
        )
    return ids

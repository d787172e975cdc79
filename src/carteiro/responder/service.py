"""The responder for the interfaces: list and read jobs, requeue them, its numbers."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.outbound.models import Email
from carteiro.responder import jobs
from carteiro.responder.model import ERROR_TYPES, JOB_ERROR_TYPES
from carteiro.responder.models import STATUSES, ResponderJob
from carteiro.responder.schemas import JobPage, JobPublic, JobStatus, ResponderStats, Suggestion
from carteiro.responder.stats import stats as compute_stats

MAX_PAGE = 500
KNOWN_ERRORS = (*ERROR_TYPES, *JOB_ERROR_TYPES)


def _error_type(value: str | None) -> str | None:
    if value is not None and value not in KNOWN_ERRORS:
        raise InvalidInput(
            f"unknown error_type '{value}'; one of {', '.join(KNOWN_ERRORS)}", field="error_type"
        )
    return value


def list_(
    session: Session,
    *,
    tenant_id: int,
    status: str | None = None,
    error_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> JobPage:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    where = [ResponderJob.tenant_id == tenant_id]
    if status is not None:
        where.append(ResponderJob.status == status)
    if _error_type(error_type) is not None:
        where.append(ResponderJob.error_type == error_type)
    total = session.scalar(select(func.count(ResponderJob.id)).where(*where)) or 0
    rows = session.scalars(
        select(ResponderJob)
        .where(*where)
        .order_by(ResponderJob.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return JobPage(
        items=[JobPublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


def get_or_raise(session: Session, *, tenant_id: int, job_id: int) -> ResponderJob:
    job = session.get(ResponderJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound(f"responder job {job_id} not found")
    return job


def requeue_one(
    session: Session, *, tenant_id: int, job_id: int, reset_attempts: bool = True
) -> JobPublic:
    """The seed's requeue_dlq_job: a failed or dead-letter job goes back to pending."""
    job = get_or_raise(session, tenant_id=tenant_id, job_id=job_id)
    if job.status not in jobs.FINAL:
        raise Conflict(
            f"responder job {job_id} is {job.status}: only failed and dead_letter jobs are "
            "requeued",
            field="status",
        )
    jobs.requeue(session, tenant_id=tenant_id, job_ids=[job_id], reset_attempts=reset_attempts)
    session.refresh(job)
    return JobPublic.model_validate(job)


def requeue_by_error_type(
    session: Session, *, tenant_id: int, error_type: str, reset_attempts: bool = True
) -> list[int]:
    """Every failed and dead-letter job of the tenant whose last error was `error_type`."""
    return jobs.requeue(
        session,
        tenant_id=tenant_id,
        error_type=_error_type(error_type),
        reset_attempts=reset_attempts,
    )


def stats(session: Session, *, tenant_id: int) -> ResponderStats:
    return compute_stats(session, tenant_id=tenant_id)


def suggestions(
    session: Session, *, tenant_id: int, message_ids: Collection[int]
) -> dict[int, Suggestion]:
    """The latest responder job of each inbox message, with its drafted reply if any."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(ResponderJob, Email.id, Email.status)
        .outerjoin(Email, Email.id == ResponderJob.email_id)
        .where(ResponderJob.tenant_id == tenant_id, ResponderJob.message_id.in_(message_ids))
        .order_by(ResponderJob.id)
    ).all()
    found: dict[int, Suggestion] = {}
    for job, email_id, email_status in rows:
        found[job.message_id] = Suggestion(
            job_id=job.id,
            job_status=cast(JobStatus, job.status),
            error_type=job.error_type,
            email_id=email_id,
            email_status=email_status,
            body=job.draft,
            intent=job.intent,
            urgency=job.urgency,
            language=job.language,
        )
    return found

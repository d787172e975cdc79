"""The AI responder: its jobs, requeue by id or by error type, and its monitoring numbers."""

from __future__ import annotations

from fastapi import Query

from carteiro.api.deps import InboxReadKey, InboxWriteKey, Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.responder import service
from carteiro.responder.schemas import JobPage, JobPublic, JobStatus, RequeueResult, ResponderStats

router = Router(prefix="/responder", tags=["responder"])


@router.get(
    "/stats",
    response_model=ResponderStats,
    summary="Jobs by status with average time, per hour over 24 h, errors, p50/p95/p99",
)
def stats(principal: InboxReadKey, session: Tx) -> ResponderStats:
    return service.stats(session, tenant_id=principal.tenant_id)


@router.get("/jobs", response_model=JobPage, summary="Responder jobs, newest first")
def jobs(
    principal: InboxReadKey,
    session: Tx,
    status: JobStatus | None = None,
    error_type: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
) -> JobPage:
    return service.list_(
        session,
        tenant_id=principal.tenant_id,
        status=status,
        error_type=error_type,
        limit=limit,
        offset=offset,
    )


@router.get("/jobs/{job_id}", response_model=JobPublic, summary="One responder job")
def job(job_id: PathId, principal: InboxReadKey, session: Tx) -> JobPublic:
    found = service.get_or_raise(session, tenant_id=principal.tenant_id, job_id=job_id)
    return JobPublic.model_validate(found)


@router.post(
    "/jobs/{job_id}/requeue", response_model=JobPublic, summary="Requeue a failed or dead job"
)
def requeue_job(
    job_id: PathId, principal: InboxWriteKey, session: Tx, reset_attempts: bool = True
) -> JobPublic:
    return service.requeue_one(
        session, tenant_id=principal.tenant_id, job_id=job_id, reset_attempts=reset_attempts
    )


@router.post(
    "/requeue", response_model=RequeueResult, summary="Requeue failed and dead jobs by error type"
)
def requeue(
    principal: InboxWriteKey,
    session: Tx,
    error_type: str = Query(max_length=32),
    reset_attempts: bool = True,
) -> RequeueResult:
    ids = service.requeue_by_error_type(
        session,
        tenant_id=principal.tenant_id,
        error_type=error_type,
        reset_attempts=reset_attempts,
    )
    return RequeueResult(requeued=len(ids), ids=ids)

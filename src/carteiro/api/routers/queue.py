"""Queue statistics and the dead-letter queue."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from carteiro.api.deps import Offset, get_runtime, require
from carteiro.outbound import queue, service
from carteiro.outbound.schemas import EmailPage, QueueStats, RequeueRequest, RequeueResult
from carteiro.runtime import Runtime
from carteiro.tenancy.scopes import EMAILS_MANAGE, EMAILS_READ
from carteiro.tenancy.service import Principal

router = APIRouter(prefix="/queue", tags=["queue"])


@router.get("/stats", response_model=QueueStats, summary="Counts by status and recent throughput")
async def stats(
    principal: Principal = Depends(require(EMAILS_READ)), rt: Runtime = Depends(get_runtime)
) -> QueueStats:
    def _run() -> QueueStats:
        with rt.db.session() as session:
            return QueueStats(**queue.stats(session, tenant_id=principal.tenant_id))

    return await run_in_threadpool(_run)


@router.get("/dead", response_model=EmailPage, summary="The dead-letter queue")
async def dead(
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
    principal: Principal = Depends(require(EMAILS_READ)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPage:
    def _run() -> EmailPage:
        with rt.db.session() as session:
            emails, total = service.list_dead(
                session, principal=principal, limit=limit, offset=offset
            )
            return service.public_page(session, emails, total=total, limit=limit, offset=offset)

    return await run_in_threadpool(_run)


@router.post(
    "/dead/requeue", response_model=RequeueResult, summary="Requeue dead e-mails by ids or type"
)
async def requeue(
    body: RequeueRequest,
    principal: Principal = Depends(require(EMAILS_MANAGE)),
    rt: Runtime = Depends(get_runtime),
) -> RequeueResult:
    def _run() -> list[int]:
        with rt.db.session() as session:
            return service.requeue_dead(
                session, principal=principal, ids=body.ids, error_type=body.error_type
            )

    ids = await run_in_threadpool(_run)
    return RequeueResult(requeued=len(ids), ids=ids)

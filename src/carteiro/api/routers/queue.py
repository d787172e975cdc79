"""Queue statistics and the dead-letter queue."""

from __future__ import annotations

from fastapi import Query

from carteiro.api.deps import EmailsManageKey, EmailsReadKey, Offset, Tx
from carteiro.api.router import Router
from carteiro.outbound import queue, service
from carteiro.outbound.schemas import EmailPage, QueueStats, RequeueRequest, RequeueResult

router = Router(prefix="/queue", tags=["queue"])


@router.get("/stats", response_model=QueueStats, summary="Counts by status and recent throughput")
def stats(principal: EmailsReadKey, session: Tx) -> QueueStats:
    return queue.stats(session, tenant_id=principal.tenant_id)


@router.get("/dead", response_model=EmailPage, summary="The dead-letter queue")
def dead(
    principal: EmailsReadKey,
    session: Tx,
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
) -> EmailPage:
    emails, total = service.list_dead(session, principal=principal, limit=limit, offset=offset)
    return service.public_page(session, emails, total=total, limit=limit, offset=offset)


@router.post(
    "/dead/requeue", response_model=RequeueResult, summary="Requeue dead e-mails by ids or type"
)
def requeue(body: RequeueRequest, principal: EmailsManageKey, session: Tx) -> RequeueResult:
    ids = service.requeue_dead(
        session, principal=principal, ids=body.ids, error_type=body.error_type
    )
    return RequeueResult(requeued=len(ids), ids=ids)

"""Outgoing webhooks: register, list, remove endpoints and read their delivery log."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.concurrency import run_in_threadpool

from carteiro.api.deps import Offset, PathId, get_runtime, require
from carteiro.runtime import Runtime
from carteiro.tenancy.scopes import DELIVERABILITY_READ, WEBHOOKS_WRITE
from carteiro.tenancy.service import Principal
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.config import WebhookConfig
from carteiro.webhooks.schemas import DeliveryPage, WebhookCreate, WebhookCreated, WebhookPublic

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Register an endpoint; deliveries carry X-Carteiro-Signature (HMAC-SHA256)",
)
async def create_webhook(
    data: WebhookCreate,
    principal: Principal = Depends(require(WEBHOOKS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> WebhookCreated:
    allow_private = WebhookConfig.from_settings(rt.settings).webhook_allow_private

    def _run() -> WebhookCreated:
        with rt.db.session() as session:
            return webhooks.create(
                session,
                tenant_id=principal.tenant_id,
                data=data,
                vault=rt.vault,
                allow_private=allow_private,
            )

    return await run_in_threadpool(_run)


@router.get("", response_model=list[WebhookPublic], summary="List endpoints (no secrets)")
async def list_webhooks(
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> list[WebhookPublic]:
    def _run() -> list[WebhookPublic]:
        with rt.db.session() as session:
            return [
                webhooks.public(h) for h in webhooks.list_(session, tenant_id=principal.tenant_id)
            ]

    return await run_in_threadpool(_run)


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One endpoint")
async def get_webhook(
    webhook_id: PathId,
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> WebhookPublic:
    def _run() -> WebhookPublic:
        with rt.db.session() as session:
            return webhooks.public(
                webhooks.get_or_raise(session, tenant_id=principal.tenant_id, webhook_id=webhook_id)
            )

    return await run_in_threadpool(_run)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an endpoint and its pending deliveries",
)
async def delete_webhook(
    webhook_id: PathId,
    principal: Principal = Depends(require(WEBHOOKS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> None:
        with rt.db.session() as session:
            webhooks.delete(session, tenant_id=principal.tenant_id, webhook_id=webhook_id)

    await run_in_threadpool(_run)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="The delivery log: each event, its attempts, the last status code or error",
)
async def list_deliveries(
    webhook_id: PathId,
    status_: Literal["pending", "delivering", "delivered", "failed"] | None = Query(
        None, alias="status"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> DeliveryPage:
    def _run() -> DeliveryPage:
        with rt.db.session() as session:
            return webhooks.deliveries(
                session,
                tenant_id=principal.tenant_id,
                webhook_id=webhook_id,
                status=status_,
                limit=limit,
                offset=offset,
            )

    return await run_in_threadpool(_run)

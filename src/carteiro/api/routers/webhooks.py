"""Outgoing webhooks: register, list, remove endpoints and read their delivery log."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Response, status

from carteiro.api.deps import DeliverabilityReadKey, Offset, PathId, Rt, Tx, WebhooksWriteKey
from carteiro.api.router import Router
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.config import WebhookConfig
from carteiro.webhooks.schemas import DeliveryPage, WebhookCreate, WebhookCreated, WebhookPublic

router = Router(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Register an endpoint; deliveries carry X-Carteiro-Signature (HMAC-SHA256)",
)
def create_webhook(
    data: WebhookCreate, principal: WebhooksWriteKey, rt: Rt, session: Tx
) -> WebhookCreated:
    return webhooks.create(
        session,
        tenant_id=principal.tenant_id,
        data=data,
        vault=rt.vault,
        allow_private=WebhookConfig.from_settings(rt.settings).webhook_allow_private,
    )


@router.get("", response_model=list[WebhookPublic], summary="List endpoints (no secrets)")
def list_webhooks(principal: DeliverabilityReadKey, session: Tx) -> list[WebhookPublic]:
    return [webhooks.public(h) for h in webhooks.list_(session, tenant_id=principal.tenant_id)]


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One endpoint")
def get_webhook(webhook_id: PathId, principal: DeliverabilityReadKey, session: Tx) -> WebhookPublic:
    return webhooks.public(
        webhooks.get_or_raise(session, tenant_id=principal.tenant_id, webhook_id=webhook_id)
    )


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an endpoint and its pending deliveries",
)
def delete_webhook(webhook_id: PathId, principal: WebhooksWriteKey, session: Tx) -> Response:
    webhooks.delete(session, tenant_id=principal.tenant_id, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="The delivery log: each event, its attempts, the last status code or error",
)
def list_deliveries(
    webhook_id: PathId,
    principal: DeliverabilityReadKey,
    session: Tx,
    status_: Literal["pending", "delivering", "delivered", "failed"] | None = Query(
        None, alias="status"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> DeliveryPage:
    return webhooks.deliveries(
        session,
        tenant_id=principal.tenant_id,
        webhook_id=webhook_id,
        status=status_,
        limit=limit,
        offset=offset,
    )

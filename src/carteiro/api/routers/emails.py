"""Outbound email endpoints: create (one, batch, seed payloads), read, raw, cancel, retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, Header, Query, Response, status
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from carteiro.api.deps import EmailsManageKey, EmailsReadKey, Offset, PathId, Rt, SendKey, Tx
from carteiro.api.errors import validation_body
from carteiro.api.router import Router
from carteiro.errors import InvalidInput, TooLarge
from carteiro.outbound import channel, service, timeline
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import (
    BatchAccepted,
    ChannelSendRequest,
    ChannelSendResult,
    EmailCreate,
    EmailDetail,
    EmailPage,
    EmailPublic,
    MCPEmailRequest,
    Status,
)
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

router = Router(tags=["emails"])
_batch_items = TypeAdapter(list[EmailCreate])


def _create(
    session: Session,
    rt: Runtime,
    principal: Principal,
    data: EmailCreate,
    key: str | None,
    source: str,
) -> tuple[EmailPublic, bool]:
    email, new = service.create(
        session,
        principal=principal,
        data=data,
        settings=rt.settings,
        idempotency_key=key,
        source=source,
    )
    return service.public(session, email), new


@router.post(
    "/emails",
    response_model=EmailPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Queue one e-mail",
    responses={200: {"description": "Idempotent repeat: the first message is returned"}},
)
def create_email(
    data: EmailCreate,
    response: Response,
    principal: SendKey,
    rt: Rt,
    session: Tx,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> EmailPublic:
    public, new = _create(session, rt, principal, data, idempotency_key, "api")
    if not new:
        response.status_code = status.HTTP_200_OK
    return public


@router.post(
    "/emails/batch",
    response_model=BatchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue up to 1,000 e-mails in one call (all or nothing)",
)
def create_batch(
    principal: SendKey,
    rt: Rt,
    session: Tx,
    payload: list[dict[str, Any]] | dict[str, Any] = Body(
        ..., description='a list of EmailCreate, or {"emails": [EmailCreate, …]}'
    ),
) -> BatchAccepted:
    items = payload.get("emails") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise InvalidInput('send a list of messages or {"emails": [...]}', field="emails")
    if len(items) > service.MAX_BATCH:
        raise TooLarge(f"a batch holds at most {service.MAX_BATCH} messages", field="emails")
    try:
        parsed = _batch_items.validate_python(items)
    except ValidationError as exc:
        body = validation_body(
            [{**e, "loc": ("emails", *e["loc"])} for e in exc.errors(include_url=False)]
        )
        raise InvalidInput(body["message"], field=body["field"]) from None
    emails = service.create_batch(session, principal=principal, items=parsed, settings=rt.settings)
    return BatchAccepted(ids=[e.id for e in emails])


@router.get("/emails", response_model=EmailPage, summary="List e-mails, newest first")
def list_emails(
    principal: EmailsReadKey,
    session: Tx,
    status_: Status | None = Query(None, alias="status"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
) -> EmailPage:
    emails, total = service.list_(
        session, principal=principal, status=status_, limit=limit, offset=offset
    )
    return service.public_page(session, emails, total=total, limit=limit, offset=offset)


@router.get(
    "/emails/{email_id}",
    response_model=EmailDetail,
    summary="One e-mail with attempts, events and the latest bounce or complaint",
)
def get_email(email_id: PathId, principal: EmailsReadKey, session: Tx) -> EmailDetail:
    email = service.get_or_raise(session, principal=principal, email_id=email_id)
    return timeline.detail(session, email)


@router.get(
    "/emails/{email_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
    summary="The exact bytes sent (or to be sent)",
)
def get_raw(email_id: PathId, principal: EmailsReadKey, rt: Rt, session: Tx) -> Response:
    email = service.get_or_raise(session, principal=principal, email_id=email_id)
    return Response(
        service.raw_bytes(session, email, settings=rt.settings),
        media_type="message/rfc822",
        headers={"X-Content-Type-Options": "nosniff"},
    )


Transition = Callable[..., Email]


def _transition(
    session: Session, fn: Transition, principal: Principal, email_id: int
) -> EmailPublic:
    return service.public(session, fn(session, principal=principal, email_id=email_id))


@router.post("/emails/{email_id}/cancel", response_model=EmailPublic, summary="Cancel if unsent")
def cancel_email(email_id: PathId, principal: EmailsManageKey, session: Tx) -> EmailPublic:
    return _transition(session, service.cancel, principal, email_id)


@router.post(
    "/emails/{email_id}/retry", response_model=EmailPublic, summary="Requeue a failed/dead e-mail"
)
def retry_email(email_id: PathId, principal: EmailsManageKey, session: Tx) -> EmailPublic:
    return _transition(session, service.retry, principal, email_id)


@router.post(
    "/emails/{email_id}/approve",
    response_model=EmailPublic,
    summary="Release an e-mail held for review (keys in review mode)",
)
def approve_email(email_id: PathId, principal: EmailsManageKey, session: Tx) -> EmailPublic:
    return _transition(session, service.approve, principal, email_id)


@router.post(
    "/emails/mcp",
    response_model=EmailPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Seed-compatible agent payload (MCPEmailRequest)",
)
def create_email_mcp(data: MCPEmailRequest, principal: SendKey, rt: Rt, session: Tx) -> EmailPublic:
    create = EmailCreate(
        to_email=data.to,
        cc_emails=data.cc,
        bcc_emails=data.bcc,
        subject=data.subject,
        body=data.body,
        html_body=data.html,
        priority=data.priority,
    )
    public, _ = _create(session, rt, principal, create, None, "mcp")
    return public


@router.post(
    "/mcp/email/send",
    response_model=ChannelSendResult,
    summary="Seed channel endpoint: send and wait up to 30 s for the outcome",
)
async def channel_send(
    data: ChannelSendRequest,
    principal: SendKey,
    rt: Rt,
    wait: float = Query(
        channel.MAX_WAIT, ge=0, le=30, description="seconds to wait for the outcome"
    ),
) -> ChannelSendResult:
    # Async: it waits with a timeout; the service keeps the database off the event loop.
    return await channel.send_and_wait(
        rt.db, principal=principal, data=data, settings=rt.settings, wait=wait
    )

"""Outbound email endpoints: create (one, batch, seed payloads), read, raw, cancel, retry."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from carteiro.api.deps import Offset, PathId, get_runtime, require
from carteiro.api.errors import validation_body
from carteiro.errors import InvalidInput, TooLarge
from carteiro.mail.templates import render_inline
from carteiro.outbound import service, timeline
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
from carteiro.tenancy.scopes import EMAILS_MANAGE, EMAILS_READ, EMAILS_SEND
from carteiro.tenancy.service import Principal

router = APIRouter(tags=["emails"])
_batch_items = TypeAdapter(list[EmailCreate])


def _create(
    rt: Runtime, principal: Principal, data: EmailCreate, key: str | None, source: str
) -> tuple[EmailPublic, bool]:
    with rt.db.session() as session:
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
async def create_email(
    data: EmailCreate,
    response: Response,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    principal: Principal = Depends(require(EMAILS_SEND)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPublic:
    public, new = await run_in_threadpool(_create, rt, principal, data, idempotency_key, "api")
    if not new:
        response.status_code = status.HTTP_200_OK
    return public


@router.post(
    "/emails/batch",
    response_model=BatchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue up to 1,000 e-mails in one call (all or nothing)",
)
async def create_batch(
    payload: list[dict[str, Any]] | dict[str, Any] = Body(
        ..., description='a list of EmailCreate, or {"emails": [EmailCreate, …]}'
    ),
    principal: Principal = Depends(require(EMAILS_SEND)),
    rt: Runtime = Depends(get_runtime),
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

    def _run() -> list[int]:
        with rt.db.session() as session:
            emails = service.create_batch(
                session, principal=principal, items=parsed, settings=rt.settings
            )
            return [e.id for e in emails]

    return BatchAccepted(ids=await run_in_threadpool(_run))


@router.get("/emails", response_model=EmailPage, summary="List e-mails, newest first")
async def list_emails(
    status_: Status | None = Query(None, alias="status"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
    principal: Principal = Depends(require(EMAILS_READ)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPage:
    def _run() -> EmailPage:
        with rt.db.session() as session:
            emails, total = service.list_(
                session, principal=principal, status=status_, limit=limit, offset=offset
            )
            return service.public_page(session, emails, total=total, limit=limit, offset=offset)

    return await run_in_threadpool(_run)


@router.get(
    "/emails/{email_id}",
    response_model=EmailDetail,
    summary="One e-mail with attempts, events and the latest bounce or complaint",
)
async def get_email(
    email_id: PathId,
    principal: Principal = Depends(require(EMAILS_READ)),
    rt: Runtime = Depends(get_runtime),
) -> EmailDetail:
    def _run() -> EmailDetail:
        with rt.db.session() as session:
            email = service.get_or_raise(session, principal=principal, email_id=email_id)
            return timeline.detail(session, email)

    return await run_in_threadpool(_run)


@router.get(
    "/emails/{email_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
    summary="The exact bytes sent (or to be sent)",
)
async def get_raw(
    email_id: PathId,
    principal: Principal = Depends(require(EMAILS_READ)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> bytes:
        with rt.db.session() as session:
            email = service.get_or_raise(session, principal=principal, email_id=email_id)
            return service.raw_bytes(session, email, settings=rt.settings)

    return Response(
        await run_in_threadpool(_run),
        media_type="message/rfc822",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _transition(rt: Runtime, fn: Any, **kwargs: Any) -> EmailPublic:
    with rt.db.session() as session:
        email = fn(session, **kwargs)
        return service.public(session, email)


@router.post("/emails/{email_id}/cancel", response_model=EmailPublic, summary="Cancel if unsent")
async def cancel_email(
    email_id: PathId,
    principal: Principal = Depends(require(EMAILS_MANAGE)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPublic:
    return await run_in_threadpool(
        _transition, rt, service.cancel, principal=principal, email_id=email_id
    )


@router.post(
    "/emails/{email_id}/retry", response_model=EmailPublic, summary="Requeue a failed/dead e-mail"
)
async def retry_email(
    email_id: PathId,
    principal: Principal = Depends(require(EMAILS_MANAGE)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPublic:
    return await run_in_threadpool(
        _transition, rt, service.retry, principal=principal, email_id=email_id
    )


@router.post(
    "/emails/{email_id}/approve",
    response_model=EmailPublic,
    summary="Release an e-mail held for review (keys in review mode)",
)
async def approve_email(
    email_id: PathId,
    principal: Principal = Depends(require(EMAILS_MANAGE)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPublic:
    return await run_in_threadpool(
        _transition, rt, service.approve, principal=principal, email_id=email_id
    )


@router.post(
    "/emails/mcp",
    response_model=EmailPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Seed-compatible agent payload (MCPEmailRequest)",
)
async def create_email_mcp(
    data: MCPEmailRequest,
    principal: Principal = Depends(require(EMAILS_SEND)),
    rt: Runtime = Depends(get_runtime),
) -> EmailPublic:
    create = EmailCreate(
        to_email=data.to,
        cc_emails=data.cc,
        bcc_emails=data.bcc,
        subject=data.subject,
        body=data.body,
        html_body=data.html,
        priority=data.priority,
    )
    public, _ = await run_in_threadpool(_create, rt, principal, create, None, "mcp")
    return public


# `held` waits for a person, not for the queue: answering at once beats waiting out the timeout.
TERMINAL = {
    "sent": "sent",
    "failed": "failed",
    "dead": "failed",
    "cancelled": "failed",
    "held": "held",
}


@router.post(
    "/mcp/email/send",
    response_model=ChannelSendResult,
    summary="Seed channel endpoint: send and wait up to 30 s for the outcome",
)
async def channel_send(
    data: ChannelSendRequest,
    wait: float = Query(30.0, ge=0, le=30, description="seconds to wait for the outcome"),
    principal: Principal = Depends(require(EMAILS_SEND)),
    rt: Runtime = Depends(get_runtime),
) -> ChannelSendResult:
    if data.templateId:
        raise InvalidInput(
            "stored templates are not available yet: send subject/body (with variables)",
            field="templateId",
        )
    subject, body, html = data.subject, data.body, data.html
    if data.variables:
        # Rendering is CPU work within a budget; off the event loop, other requests go on.
        subject = await run_in_threadpool(render_inline, subject, data.variables, field="subject")
        body = await run_in_threadpool(render_inline, body, data.variables, field="body")
        if html:
            html = await run_in_threadpool(
                render_inline, html, data.variables, field="html", html=True
            )
    if not subject:
        raise InvalidInput("subject is required", field="subject")
    if not body and not html:
        raise InvalidInput("body or html is required", field="body")
    create = EmailCreate(to_email=data.to, subject=subject, body=body or "", html_body=html)
    public, _ = await run_in_threadpool(_create, rt, principal, create, None, "mcp")

    def _status() -> tuple[str, str | None]:
        with rt.db.session() as session:
            email = service.get_or_raise(session, principal=principal, email_id=public.id)
            return email.status, email.error_message

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    state, error = public.status, None
    while state not in TERMINAL and loop.time() < deadline:
        await asyncio.sleep(0.1)
        state, error = await run_in_threadpool(_status)
    outcome = TERMINAL.get(state, "queued")
    return ChannelSendResult(
        messageId=public.message_id,
        status=outcome,  # type: ignore[arg-type]
        error=error if outcome == "failed" else None,
        id=public.id,
    )

"""The seed's channel send: render the variables, queue the message, wait for its outcome."""

from __future__ import annotations

import functools

import anyio
import anyio.to_thread

from carteiro.config import Settings
from carteiro.db.engine import Database
from carteiro.errors import InvalidInput
from carteiro.mail.templates import render_inline
from carteiro.outbound import service
from carteiro.outbound.schemas import ChannelSendRequest, ChannelSendResult, EmailCreate
from carteiro.tenancy.service import Principal

MAX_WAIT = 30.0
POLL_SECONDS = 0.1

# `held` waits for a person, not for the queue: answering at once beats waiting out the timeout.
TERMINAL = {
    "sent": "sent",
    "failed": "failed",
    "dead": "failed",
    "cancelled": "failed",
    "held": "held",
}


def _message(data: ChannelSendRequest) -> EmailCreate:
    """The request as a message, with its variables rendered (CPU work within a budget)."""
    if data.templateId:
        raise InvalidInput(
            "stored templates are not available yet: send subject/body (with variables)",
            field="templateId",
        )
    subject, body, html = data.subject, data.body, data.html
    if data.variables:
        subject = render_inline(subject, data.variables, field="subject")
        body = render_inline(body, data.variables, field="body")
        if html:
            html = render_inline(html, data.variables, field="html", html=True)
    if not subject:
        raise InvalidInput("subject is required", field="subject")
    if not body and not html:
        raise InvalidInput("body or html is required", field="body")
    return EmailCreate(to_email=data.to, subject=subject, body=body or "", html_body=html)


def _queue(
    db: Database, *, principal: Principal, data: ChannelSendRequest, settings: Settings
) -> tuple[int, str, str]:
    create = _message(data)
    # Committed before the wait starts: the worker must see the message to send it.
    with db.session() as session:
        email, _ = service.create(
            session, principal=principal, data=create, settings=settings, source="mcp"
        )
        return email.id, email.message_id, email.status


def _state(db: Database, *, principal: Principal, email_id: int) -> tuple[str, str | None]:
    with db.session() as session:
        email = service.get_or_raise(session, principal=principal, email_id=email_id)
        return email.status, email.error_message


async def send_and_wait(
    db: Database,
    *,
    principal: Principal,
    data: ChannelSendRequest,
    settings: Settings,
    wait: float = MAX_WAIT,
) -> ChannelSendResult:
    """Queues the message and polls its status for up to `wait` seconds; the database work runs
    on worker threads so the caller's event loop serves other requests meanwhile."""
    email_id, message_id, state = await anyio.to_thread.run_sync(
        functools.partial(_queue, db, principal=principal, data=data, settings=settings)
    )
    error: str | None = None
    deadline = anyio.current_time() + wait
    while state not in TERMINAL and anyio.current_time() < deadline:
        await anyio.sleep(POLL_SECONDS)
        state, error = await anyio.to_thread.run_sync(
            functools.partial(_state, db, principal=principal, email_id=email_id)
        )
    outcome = TERMINAL.get(state, "queued")
    return ChannelSendResult(
        messageId=message_id,
        status=outcome,
        error=error if outcome == "failed" else None,
        id=email_id,
    )

"""The outbox: every message with filters, one message's story, and the queue's dead letters
and held mail with their actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import InvalidInput, NotFound
from carteiro.outbound import queue, service, timeline
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import Status
from carteiro.tenancy import access
from carteiro.web import acting, render
from carteiro.web.deps import Operator, Person, WebPerson
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

STATUSES: tuple[str, ...] = (
    "pending",
    "held",
    "sending",
    "sent",
    "failed",
    "dead",
    "cancelled",
    "suppressed",
)
# The statuses as `_()` shows them in templates.
WORDS = (
    render.N_("pending"),
    render.N_("held"),
    render.N_("sending"),
    render.N_("sent"),
    render.N_("failed"),
    render.N_("dead"),
    render.N_("cancelled"),
    render.N_("suppressed"),
    render.N_("bounced"),
    render.N_("complained"),
    render.N_("low"),
    render.N_("normal"),
    render.N_("high"),
    render.N_("urgent"),
    render.N_("capture"),
    # Event types on a message's timeline.
    render.N_("queued"),
    render.N_("deferred"),
    render.N_("bounce_hard"),
    render.N_("bounce_soft"),
    render.N_("approved"),
    render.N_("requeued"),
    render.N_("unsubscribed"),
    render.N_("(deleted)"),
)
NOTICES = {
    "cancelled": render.N_("The message was cancelled."),
    "retried": render.N_("The message is back in the queue."),
    "approved": render.N_("The message was approved and is in the queue."),
    "rejected": render.N_("The message was rejected: it will not be sent."),
}


def _visible(session: Tx, person: WebPerson) -> set[int] | None:
    return access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )


def _status(value: str | None) -> Status | None:
    if not value:
        return None
    if value not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    return value  # type: ignore[return-value]  # checked against the Literal's values above


def _email(session: Tx, person: WebPerson, email_id: int) -> Email:
    """The message if this person may see it (its account among their mailboxes)."""
    email = service.get_or_raise(session, principal=acting.principal(person), email_id=email_id)
    visible = _visible(session, person)
    if visible is not None and email.account_id not in visible:
        raise NotFound(f"email {email_id} not found")
    return email


def _audit(request: Request, session: Tx, person: WebPerson, action: str, email_id: int) -> None:
    acting.record(request, session, person, action, target_type="email", target_id=email_id)


@router.get("/ui/outbox")
def outbox(
    request: Request,
    session: Tx,
    person: Person,
    status: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
) -> HTMLResponse:
    visible = _visible(session, person)
    found, total = service.list_(
        session,
        principal=acting.principal(person),
        status=_status(status),
        account_ids=visible,
        search=q,
        limit=PAGE_SIZE,
        offset=offset,
    )
    names = service.account_names(session, {e.account_id for e in found if e.account_id})
    return render.page(
        request,
        "outbox.html",
        {
            "section": "outbox",
            "tab": "all",
            "page": page_of(request, found, total=total, limit=PAGE_SIZE, offset=offset),
            "names": names,
            "statuses": STATUSES,
            "status": status or "",
            "q": q or "",
            "filtered": bool(status or q),
        },
    )


@router.get("/ui/outbox/{email_id}")
def message(
    request: Request,
    email_id: PathId,
    session: Tx,
    person: Person,
    notice: str | None = None,
) -> HTMLResponse:
    email = _email(session, person, email_id)
    detail = timeline.detail(session, email)
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "outbox_message.html",
        {
            "section": "outbox",
            "email": detail,
            "notice": render.text(request, msgid) if msgid else None,
            "can_act": person.at_least("operator"),
        },
    )


@router.get("/ui/outbox/{email_id}/raw")
def raw(email_id: PathId, rt: Rt, session: Tx, person: Person) -> Response:
    email = _email(session, person, email_id)
    # Shown as text, never rendered: the source may hold any HTML.
    return Response(
        service.raw_bytes(session, email, settings=rt.settings),
        media_type="text/plain; charset=utf-8",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Content-Disposition": f'inline; filename="message-{email_id}.eml"',
        },
    )


def _back(email_id: int, notice: str, to: str | None) -> RedirectResponse:
    # Only our own pages: a form field never sends the person elsewhere.
    target = to if to in ("queue", "held") else None
    url = (
        f"/ui/queue?tab={target}&notice={notice}"
        if target
        else f"/ui/outbox/{email_id}?notice={notice}"
    )
    return RedirectResponse(url, status_code=303)


@router.post("/ui/outbox/{email_id}/cancel")
def cancel(
    request: Request,
    email_id: PathId,
    session: Tx,
    person: Operator,
    back: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    was_held = _email(session, person, email_id).status == "held"
    service.cancel(session, principal=acting.principal(person), email_id=email_id)
    _audit(request, session, person, "reject" if was_held else "cancel", email_id)
    return _back(email_id, "rejected" if was_held else "cancelled", back)


@router.post("/ui/outbox/{email_id}/retry")
def retry(request: Request, email_id: PathId, session: Tx, person: Operator) -> RedirectResponse:
    _email(session, person, email_id)
    service.retry(session, principal=acting.principal(person), email_id=email_id)
    _audit(request, session, person, "retry", email_id)
    return _back(email_id, "retried", None)


@router.post("/ui/outbox/{email_id}/approve")
def approve(
    request: Request,
    email_id: PathId,
    session: Tx,
    person: Operator,
    back: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    _email(session, person, email_id)
    service.approve(session, principal=acting.principal(person), email_id=email_id)
    _audit(request, session, person, "approve", email_id)
    return _back(email_id, "approved", back)


QUEUE_NOTICES = {
    "approved": render.N_("The message was approved and is in the queue."),
    "rejected": render.N_("The message was rejected: it will not be sent."),
    "requeued": render.N_("%(count)s messages are back in the queue."),
}


@router.get("/ui/queue")
def queue_page(
    request: Request,
    session: Tx,
    person: Person,
    tab: str = "queue",
    offset: Offset = 0,
    notice: str | None = None,
    requeued: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    if tab not in ("queue", "held"):
        raise InvalidInput("tab must be queue or held", field="tab")
    visible = _visible(session, person)
    principal = acting.principal(person)
    status: Status = "dead" if tab == "queue" else "held"
    found, total = service.list_(
        session,
        principal=principal,
        status=status,
        account_ids=visible,
        limit=PAGE_SIZE,
        offset=offset,
    )
    names = service.account_names(session, {e.account_id for e in found if e.account_id})
    msgid = QUEUE_NOTICES.get(notice or "")
    return render.page(
        request,
        "queue.html",
        {
            "section": "outbox",
            "tab": tab,
            # Counts only: the throughput half of the queue's stats scans sent mail.
            "counts": queue.counts(session, tenant_id=person.tenant_id),
            "page": page_of(request, found, total=total, limit=PAGE_SIZE, offset=offset),
            "names": names,
            # Only where the requeue-by-type form shows: the held tab never needs it.
            "error_types": service.dead_error_types(
                session, principal=principal, account_ids=visible
            )
            if tab == "queue" and person.at_least("operator")
            else [],
            "notice": render.text(request, msgid, count=requeued or 0) if msgid else None,
            "can_act": person.at_least("operator"),
        },
    )


@router.post("/ui/queue/requeue")
def requeue(
    request: Request,
    session: Tx,
    person: Operator,
    ids: Annotated[list[int] | None, Form()] = None,
    error_type: Annotated[str | None, Form(max_length=100)] = None,
) -> RedirectResponse:
    if not ids and not error_type:
        raise InvalidInput("choose messages or an error type to requeue", field="ids")
    done = service.requeue_dead(
        session,
        principal=acting.principal(person),
        ids=ids or None,
        error_type=error_type or None,
        account_ids=_visible(session, person),
    )
    for email_id in done:
        _audit(request, session, person, "requeue", email_id)
    return RedirectResponse(f"/ui/queue?notice=requeued&requeued={len(done)}", status_code=303)

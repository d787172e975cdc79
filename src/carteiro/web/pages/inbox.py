"""The inbox: folders → threads → the message, with actions carried out on the IMAP server."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carteiro.api.deps import PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, Forbidden, InvalidInput, NotFound
from carteiro.inbound import actions, downloads
from carteiro.inbound.schemas import ActionCreate, ActionResult, BulkActionCreate
from carteiro.inbound.storage import BlobStore
from carteiro.runtime import Runtime
from carteiro.tenancy import audit
from carteiro.web import domain_texts, render
from carteiro.web.deps import Person, WebPerson, client_ip, current_person, find_person
from carteiro.web.i18n import HTML_LANG
from carteiro.web.pages import inbox_view as view
from carteiro.web.pages.inbox_view import Filters

router = Router(include_in_schema=False)
log = logging.getLogger(__name__)

TEMPLATE = "inbox.html"
# Folder roles as the folder list names them (the template translates these).
ROLE_NAMES = tuple(
    render.N_(name) for name in ("Inbox", "Sent", "Drafts", "Archive", "Junk", "Trash")
)
NOTICES = {
    "archive": render.N_("Conversation archived."),
    "move": render.N_("Conversation moved."),
    "delete": render.N_("Conversation deleted."),
    "read": render.N_("Marked as read."),
    "unread": render.N_("Marked as unread."),
    "flag": render.N_("Flagged."),
    "unflag": render.N_("Flag removed."),
}


def _list_context(
    session: Session, person: WebPerson, f: Filters, seen: set[int] | None
) -> dict[str, Any]:
    groups = view.folder_groups(session, person, seen)
    return {
        "section": "inbox",
        "f": f,
        "groups": groups,
        "accounts": view.visible_accounts(session, person, seen),
        "page": view.thread_page(session, person, f, seen),
        "can_act": person.at_least("operator"),
        "oob": False,
    }


def _record_read(session: Session, request: Request, person: WebPerson, pane: view.Pane) -> None:
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        actor=person.email,
        action="message_read",
        target_type="thread",
        target_id=pane.thread.id,
        detail={"message_ids": [m.message.id for m in pane.messages]},
        ip=client_ip(request),
    )


async def _mark_read(rt: Runtime, person: WebPerson, thread_id: int, seen: set[int] | None) -> None:
    """After the page went out: the opened thread's messages marked read, on the IMAP server
    too (through the inbox actions, under the account's sync lock), as mail clients do."""
    try:
        await actions.perform(
            rt,
            tenant_id=person.tenant_id,
            data=ActionCreate(action="read"),
            thread_ids=[thread_id],
            account_ids=seen,
        )
    except CarteiroError as exc:
        # The thread stays unread; the person can still mark it by hand.
        log.info("opening thread %s did not mark it read: %s", thread_id, exc.message)


def _read_on_open(
    background: BackgroundTasks,
    rt: Runtime,
    person: WebPerson,
    pane: view.Pane,
    seen: set[int] | None,
) -> None:
    # Viewers read without changing the mailbox (they may not act on it).
    if pane.thread.unread_count > 0 and person.at_least("operator"):
        background.add_task(_mark_read, rt, person, pane.thread.id, seen)


# The bulk bar's actions on the selected conversations, each with the notice after it.
BULK_NOTICES = {
    "read": render.N_("The selected conversations were marked as read."),
    "unread": render.N_("The selected conversations were marked as unread."),
    "flag": render.N_("The selected conversations were flagged."),
    "archive": render.N_("The selected conversations were archived."),
    "delete": render.N_("The selected conversations were deleted."),
    "none": render.N_("Select at least one conversation first."),
}


@router.get("/ui/inbox")
def inbox(
    request: Request, rt: Rt, person: Person, session: Tx, background: BackgroundTasks
) -> HTMLResponse:
    f = Filters.parse(request.query_params)
    seen = view.visible(session, person)
    context = _list_context(session, person, f, seen)
    pane = view.pane(session, person, f.thread, seen) if f.thread else None
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        actor=person.email,
        action="mailbox_open",
        target_type="folder" if f.folder else "inbox",
        target_id=f.folder,
        detail={"query": f.list_query()},
        ip=client_ip(request),
    )
    if pane is not None:
        _record_read(session, request, person, pane)
        _read_on_open(background, rt, person, pane, seen)
    done = BULK_NOTICES.get(request.query_params.get("bulk", ""))
    notice = render.text(request, done) if done else None
    return render.page(request, TEMPLATE, {**context, "pane": pane, "notice": notice})


@router.get("/ui/inbox/pane/{thread_id}")
def thread_pane(
    thread_id: PathId,
    request: Request,
    rt: Rt,
    person: Person,
    session: Tx,
    background: BackgroundTasks,
) -> HTMLResponse:
    """The message pane alone (htmx swaps it in and pushes /ui/inbox?thread=…)."""
    f = Filters.parse(request.query_params)
    seen = view.visible(session, person)
    pane = view.pane(session, person, thread_id, seen)
    _record_read(session, request, person, pane)
    _read_on_open(background, rt, person, pane, seen)
    context = {"f": f, "pane": pane, "can_act": person.at_least("operator")}
    return render.fragment(request, TEMPLATE, "pane", context)


@router.get("/ui/inbox/frame/{message_id}")
def message_frame(
    message_id: PathId, request: Request, person: Person, session: Tx, images: bool = False
) -> HTMLResponse:
    """The message's sanitised HTML as its own document, for a sandboxed frame."""
    seen = view.visible(session, person)
    lang = HTML_LANG.get(render.locale_of(request), "pt-BR")
    document, csp = view.frame(session, person, message_id, seen, images=images, lang=lang)
    return HTMLResponse(
        document,
        headers={
            "Content-Security-Policy": csp,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/ui/inbox/messages/{message_id}/attachments/{attachment_id}")
def attachment(
    message_id: PathId,
    attachment_id: PathId,
    rt: Rt,
    person: Person,
    session: Tx,
) -> StreamingResponse:
    seen = view.visible(session, person)
    view.check_visible_message(session, person, message_id, seen)
    row, chunks = downloads.attachment(
        session,
        tenant_id=person.tenant_id,
        message_id=message_id,
        attachment_id=attachment_id,
        store=BlobStore.for_data_dir(rt.settings.data_dir),
    )
    kind = row.content_type if "/" in row.content_type else "application/octet-stream"
    return StreamingResponse(
        chunks, media_type=kind, headers=downloads.attachment_headers(row.filename)
    )


def _action(action: str, folder: str | None) -> ActionCreate:
    try:
        return ActionCreate.model_validate({"action": action, "folder": folder or None})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "action"
        raise InvalidInput(f"{where}: {error['msg']}", field=where) from None


async def _act(
    request: Request, rt: Runtime, thread_ids: list[int], data: ActionCreate
) -> tuple[WebPerson, set[int] | None, ActionResult]:
    """Who asks (in a short transaction of its own: the IMAP work must not hold one), then
    the action on the server, then the audit entry."""

    def who(session: Session) -> tuple[WebPerson, set[int] | None]:
        person = current_person(request, find_person(request, rt))
        return person, view.visible(session, person)

    person, seen = await in_transaction(rt, who)
    if not person.at_least("operator"):
        raise Forbidden("viewers can read mail but not act on it", field="role")
    result = await actions.perform(
        rt, tenant_id=person.tenant_id, data=data, thread_ids=thread_ids, account_ids=seen
    )
    if data.action == "delete":

        def record(session: Session) -> None:
            for thread_id in result.thread_ids or thread_ids:
                audit.record(
                    session,
                    tenant_id=person.tenant_id,
                    user_id=person.user_id,
                    actor=person.email,
                    action="delete",
                    target_type="thread",
                    target_id=thread_id,
                    detail={
                        "message_ids": result.message_ids,
                        "for_good": result.deleted_for_good,
                    },
                    ip=client_ip(request),
                )

        await in_transaction(rt, record)
    return person, seen, result


@router.post("/ui/inbox/pane/{thread_id}/actions")
async def pane_action(
    thread_id: PathId,
    request: Request,
    rt: Rt,
    action: Annotated[str, Form(max_length=20)] = "",
    folder: Annotated[str, Form(max_length=1000)] = "",
    state: Annotated[str, Form(alias="list", max_length=4000)] = "",
) -> HTMLResponse:
    """htmx: the action, then the pane plus the thread list and folder counts out of band."""
    f = Filters.parse(dict(parse_qsl(state)))
    error: str | None = None
    try:
        person, seen, _ = await _act(request, rt, [thread_id], _action(action, folder))
    except (InvalidInput, NotFound) as exc:
        error = domain_texts.message_of(request, exc)
        person, seen = None, None
    except CarteiroError as exc:
        if exc.status in (401, 403):
            raise
        error = domain_texts.message_of(request, exc)
        person, seen = None, None

    def build(session: Session) -> dict[str, Any]:
        who = person or current_person(request, find_person(request, rt))
        mine = seen if person else view.visible(session, who)
        context = _list_context(session, who, f, mine)
        try:
            context["pane"] = view.pane(session, who, thread_id, mine)
        except NotFound:
            context["pane"] = None
        context["oob"] = True
        return context

    context = await in_transaction(rt, build)
    context["error"] = error
    context["notice"] = None if error else render.text(request, NOTICES.get(action, ""))
    return render.fragment(request, TEMPLATE, ["pane", "threads", "folders"], context)


@router.post("/ui/inbox/threads/{thread_id}/actions")
async def thread_action(
    thread_id: PathId,
    request: Request,
    rt: Rt,
    action: Annotated[str, Form(max_length=20)] = "",
    folder: Annotated[str, Form(max_length=1000)] = "",
    state: Annotated[str, Form(alias="list", max_length=4000)] = "",
) -> Response:
    """Without JavaScript: the action, then back to the inbox (303)."""
    f = Filters.parse(dict(parse_qsl(state)))
    await _act(request, rt, [thread_id], _action(action, folder))
    keep = action in ("read", "unread", "flag", "unflag")
    return RedirectResponse(
        "/ui/inbox?" + f.qs(thread=thread_id if keep else None, cursor=f.cursor),
        status_code=303,
    )


@router.post("/ui/inbox/actions")
async def bulk_action(
    request: Request,
    rt: Rt,
    action: Annotated[str, Form(max_length=20)] = "",
    thread_ids: Annotated[list[int], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    state: Annotated[str, Form(alias="list", max_length=4000)] = "",
) -> Response:
    """The bulk bar: one action on the selected conversations (the inbox's bulk service,
    each account over one IMAP connection), then back to the same list (303)."""
    f = Filters.parse(dict(parse_qsl(state)))
    if action not in BULK_NOTICES or action == "none":
        allowed = ", ".join(a for a in BULK_NOTICES if a != "none")
        raise InvalidInput(f"action must be one of {allowed}", field="action")
    done = action if thread_ids else "none"
    if thread_ids:
        try:
            data = BulkActionCreate(action=action, thread_ids=thread_ids)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "thread_ids"
            raise InvalidInput(f"{where}: {error['msg']}", field=where) from None
        await _act(request, rt, data.thread_ids, ActionCreate(action=data.action))
    listing = f.qs(cursor=f.cursor)
    return RedirectResponse(
        "/ui/inbox?" + (f"{listing}&" if listing else "") + f"bulk={done}", status_code=303
    )

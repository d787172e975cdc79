"""Compose: a new message, or a reply / reply-all / forward prefilled, sent through the queue."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carteiro.api.deps import Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, Forbidden, InvalidInput
from carteiro.inbound import replies
from carteiro.inbound.mime import sanitize_html
from carteiro.inbound.schemas import ReplyCreate
from carteiro.inbound.storage import BlobStore
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import AttachmentIn, EmailCreate
from carteiro.tenancy import audit
from carteiro.web import acting, domain_texts, render
from carteiro.web.deps import Operator, WebPerson, client_ip
from carteiro.web.i18n import zone
from carteiro.web.pages import inbox_view as view

router = Router(include_in_schema=False)

Mode = Literal["reply", "reply_all", "forward"]
MODES: tuple[Mode, ...] = ("reply", "reply_all", "forward")
MAX_ATTACHMENTS = 20


@dataclass
class Draft:
    account: int | None = None
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    html: str = ""
    send_at: str = ""
    reply_to: int | None = None
    mode: Mode = "reply"


def _mode(value: str | None) -> Mode:
    for mode in MODES:
        if value == mode:
            return mode
    if value:
        raise InvalidInput("mode must be reply, reply_all or forward", field="mode")
    return "reply"


def _prefill(session: Session, person: WebPerson, reply_to: int, mode: Mode) -> Draft:
    seen = view.visible(session, person)
    view.check_visible_message(session, person, reply_to, seen)
    original = replies.get_message(session, tenant_id=person.tenant_id, message_id=reply_to)
    own = replies.own_addresses(session, tenant_id=person.tenant_id)
    to, cc = replies.recipients(original, mode=mode, own=own)
    prefix = "Fwd:" if mode == "forward" else "Re:"
    return Draft(
        account=original.account_id,
        to=", ".join(to),
        cc=", ".join(cc),
        subject=replies.prefixed(original.subject, prefix),
        reply_to=reply_to,
        mode=mode,
    )


def _form(
    request: Request,
    session: Session,
    person: WebPerson,
    draft: Draft,
    *,
    error: str | None = None,
    field: str | None = None,
    sent: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    seen = view.visible(session, person)
    context: dict[str, Any] = {
        "section": "inbox",
        "draft": draft,
        "accounts": view.visible_accounts(session, person, seen),
        "error": error,
        "field": field,
        "sent": sent,
    }
    return render.page(request, "compose.html", context, status=status)


@router.get("/ui/compose")
def compose_form(
    request: Request,
    person: Operator,
    session: Tx,
    reply_to: int | None = None,
    mode: str | None = None,
    sent: int | None = None,
) -> HTMLResponse:
    draft = Draft()
    if reply_to is not None:
        draft = _prefill(session, person, reply_to, _mode(mode))
    return _form(request, session, person, draft, sent=sent)


def _send_at(value: str, timezone: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("send_at must be a date and time", field="send_at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone))


def _attachments(files: list[UploadFile]) -> list[AttachmentIn]:
    chosen = [f for f in files if f.filename]
    if len(chosen) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", field="attachments")
    return [
        AttachmentIn(
            filename=f.filename or "file",
            content_type=f.content_type or "application/octet-stream",
            content_base64=base64.b64encode(f.file.read()).decode("ascii"),
        )
        for f in chosen
    ]


# The services name fields as the API does; the form has its own names.
FORM_NAMES = {
    "to_email": "to",
    "cc_emails": "cc",
    "bcc_emails": "bcc",
    "html_body": "html",
    "scheduled_at": "send_at",
}


def form_field(name: str | None) -> str | None:
    if not name:
        return None
    head = name.split(".")[0].split("[")[0]
    return FORM_NAMES.get(head, head)


def _field_of(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    where = form_field(".".join(str(p) for p in error["loc"])) or "body"
    return where, f"{where}: {error['msg']}"


def _send(
    session: Session, rt_settings: Any, person: WebPerson, draft: Draft, files: list[UploadFile]
) -> tuple[int, int | None]:
    """Queues the message; returns (outbound id, thread id for replies)."""
    seen = view.visible(session, person)
    principal = acting.principal(person)
    html = sanitize_html(draft.html) if draft.html.strip() else None
    attachments = _attachments(files) or None
    if draft.reply_to is not None:
        view.check_visible_message(session, person, draft.reply_to, seen)
        result = replies.reply(
            session,
            principal=principal,
            message_id=draft.reply_to,
            data=ReplyCreate(
                body=draft.body,
                html_body=html,
                mode=draft.mode,
                to=draft.to or None,
                cc=draft.cc or None,
                bcc=draft.bcc or None,
                subject=draft.subject or None,
                attachments=attachments,
            ),
            settings=rt_settings,
            store=BlobStore.for_data_dir(rt_settings.data_dir),
        )
        return result.email_id, result.thread_id
    if draft.account is None or (seen is not None and draft.account not in seen):
        raise InvalidInput("choose one of your accounts to send from", field="account")
    email, _ = outbound.create(
        session,
        principal=principal,
        data=EmailCreate(
            to_email=draft.to,
            cc_emails=draft.cc or None,
            bcc_emails=draft.bcc or None,
            subject=draft.subject,
            body=draft.body,
            html_body=html,
            scheduled_at=_send_at(draft.send_at, person.timezone),
            attachments=attachments,
            account=draft.account,
        ),
        settings=rt_settings,
        source="console",
    )
    return email.id, None


@router.post("/ui/compose")
def compose_send(
    request: Request,
    rt: Rt,
    person: Operator,
    session: Tx,
    account: Annotated[int | None, Form()] = None,
    to: Annotated[str, Form(max_length=10_000)] = "",
    cc: Annotated[str, Form(max_length=10_000)] = "",
    bcc: Annotated[str, Form(max_length=10_000)] = "",
    subject: Annotated[str, Form(max_length=500)] = "",
    body: Annotated[str, Form(max_length=2_000_000)] = "",
    html: Annotated[str, Form(max_length=2_000_000)] = "",
    send_at: Annotated[str, Form(max_length=40)] = "",
    reply_to: Annotated[int | None, Form()] = None,
    mode: Annotated[str, Form(max_length=20)] = "reply",
    attachments: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    draft = Draft(
        account=account,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=body,
        html=html,
        send_at=send_at,
        reply_to=reply_to,
        mode=_mode(mode),
    )
    if not person.at_least("operator"):
        raise Forbidden("viewers cannot send mail", field="role")
    try:
        with session.begin_nested():
            email_id, thread_id = _send(session, rt.settings, person, draft, attachments or [])
    except ValidationError as exc:
        where, message = _field_of(exc)
        return _form(request, session, person, draft, error=message, field=where, status=422)
    except CarteiroError as exc:
        if exc.status in (401, 403) and exc.field == "role":
            raise
        return _form(
            request,
            session,
            person,
            draft,
            error=domain_texts.message_of(request, exc),
            field=form_field(exc.field),
            status=exc.status,
        )
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        actor=person.email,
        action="send",
        target_type="email",
        target_id=email_id,
        detail={"reply_to": reply_to, "mode": draft.mode if reply_to else "new"},
        ip=client_ip(request),
    )
    if thread_id is not None:
        return RedirectResponse(f"/ui/inbox?thread={thread_id}", status_code=303)
    return RedirectResponse(f"/ui/compose?sent={email_id}", status_code=303)

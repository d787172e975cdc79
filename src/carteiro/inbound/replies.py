"""Replies and forwards: recipients, Re:/Fwd: subjects, threading headers, quoting, the queue."""

from __future__ import annotations

import base64
import html as html_lib
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.config import Settings
from carteiro.errors import InvalidInput, NotFound
from carteiro.inbound import outgoing
from carteiro.inbound.language import detect
from carteiro.inbound.models import (
    InboxAttachment,
    InboxMessage,
    InboxParticipant,
    InboxThread,
)
from carteiro.inbound.schemas import ReplyCreate, ReplyResult
from carteiro.inbound.storage import BlobStore
from carteiro.mail.addresses import parse_addresses
from carteiro.outbound import service as outbound
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import AttachmentIn, EmailCreate
from carteiro.tenancy.scopes import EMAILS_SEND
from carteiro.tenancy.service import Principal

MAX_REFERENCES = 20
MAX_QUOTE_CHARS = 200_000
AUTO_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}


def own_addresses(session: Session, *, tenant_id: int) -> set[str]:
    """Every address the tenant's accounts send or log in as (lower-cased)."""
    found: set[str] = set()
    for email, imap in session.execute(
        select(Account.email, Account.imap).where(Account.tenant_id == tenant_id)
    ):
        found.add(email.lower())
        username = (imap or {}).get("username")
        if isinstance(username, str) and "@" in username:
            found.add(username.lower())
    return found


def wants_sent_copy(account: Account) -> bool:
    from carteiro.mail.imap import SAVES_SENT_ITSELF

    imap = account.imap or {}
    if not imap.get("host"):
        return False
    if imap.get("append_sent") is not None:
        return bool(imap["append_sent"])
    return str(imap["host"]).lower() not in SAVES_SENT_ITSELF


def prefixed(subject: str, prefix: str) -> str:
    """`Re: subject` unless it already starts with that prefix (any case)."""
    subject = subject.strip()
    if subject.lower().startswith(prefix.lower()):
        return subject[:500]
    return f"{prefix} {subject}"[:500]


def references(message: InboxMessage) -> list[str]:
    """The original's References plus its own Message-ID, trimmed as RFC 5322 suggests."""
    refs = list(message.reference_ids or [])
    if message.in_reply_to and message.in_reply_to not in refs:
        refs.append(message.in_reply_to)
    if message.message_id and message.message_id not in refs:
        refs.append(message.message_id)
    if len(refs) > MAX_REFERENCES:
        # Keep the root (the first) and the most recent ones.
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return refs


def _emails(values: Sequence[dict[str, str]]) -> list[str]:
    return [v["email"] for v in values if v.get("email")]


def recipients(message: InboxMessage, *, mode: str, own: set[str]) -> tuple[list[str], list[str]]:
    """(to, cc) for a reply or reply-all; a forward names its own recipients."""
    if mode == "forward":
        return [], []
    if message.direction == "out":
        to = _emails(message.to_addresses)
    else:
        to = _emails(message.reply_to) or ([message.from_address] if message.from_address else [])
    cc: list[str] = []
    if mode == "reply_all":
        taken = {*to, *own}
        for address in _emails(message.to_addresses) + _emails(message.cc_addresses):
            if address not in taken:
                cc.append(address)
                taken.add(address)
    return to, cc


def _who(message: InboxMessage) -> str:
    name = message.from_name
    return f"{name} <{message.from_address}>" if name else message.from_address


def attribution(message: InboxMessage, *, timezone: str) -> str:
    """'Em <data>, <nome> escreveu:' or 'On <date>, <name> wrote:', in the original's language."""
    zone = ZoneInfo(timezone)
    when = message.date.astimezone(zone)
    language = detect(f"{message.subject}\n{message.text_body or ''}", message.headers)
    if language == "en":
        stamp = format_datetime(when, "EEE, d MMM y 'at' HH:mm xxx", locale="en")
        return f"On {stamp}, {_who(message)} wrote:"
    stamp = format_datetime(when, "EEE, d 'de' MMM 'de' y 'às' HH:mm xxx", locale="pt_BR")
    return f"Em {stamp}, {_who(message)} escreveu:"


def quote_text(message: InboxMessage, *, forward: bool, timezone: str = "UTC") -> str:
    original = (message.text_body or "")[:MAX_QUOTE_CHARS]
    if forward:
        when = message.date.strftime("%a, %d %b %Y %H:%M UTC")
        to = ", ".join(_emails(message.to_addresses))
        return (
            "---------- Forwarded message ----------\n"
            f"From: {_who(message)}\nDate: {when}\nSubject: {message.subject}\nTo: {to}\n\n"
            f"{original}"
        )
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.splitlines())
    return f"{attribution(message, timezone=timezone)}\n{quoted}"


def quote_html(message: InboxMessage) -> str:
    inner = message.html_body or (
        "<pre>" + html_lib.escape((message.text_body or "")[:MAX_QUOTE_CHARS]) + "</pre>"
    )
    return f'<blockquote type="cite">{inner}</blockquote>'


def _original_attachments(
    session: Session, store: BlobStore, message: InboxMessage
) -> list[AttachmentIn]:
    rows = session.scalars(
        select(InboxAttachment).where(InboxAttachment.message_id == message.id)
    ).all()
    return [
        AttachmentIn(
            filename=a.filename,
            content_type=a.content_type
            if not a.content_type.startswith(("multipart/", "message/"))
            else "application/octet-stream",
            content_base64=base64.b64encode(store.get(a.storage_key)).decode("ascii"),
        )
        for a in rows
        if not a.inline
    ]


def get_message(session: Session, *, tenant_id: int, message_id: int) -> InboxMessage:
    message = session.get(InboxMessage, message_id)
    if message is None or message.tenant_id != tenant_id:
        raise NotFound(f"inbox message {message_id} not found")
    return message


def reply(
    session: Session,
    *,
    principal: Principal,
    message_id: int,
    data: ReplyCreate,
    settings: Settings,
    store: BlobStore,
    auto: bool = False,
    idempotency_key: str | None = None,
) -> ReplyResult:
    """Queues a reply or forward from the message's own account, threaded under it.

    Repeating an `idempotency_key` returns the first reply (`duplicate`), never a second one."""
    # Replying and forwarding send mail: inbox access alone must not be a way around that.
    principal.require(EMAILS_SEND)
    message = get_message(session, tenant_id=principal.tenant_id, message_id=message_id)
    account = session.get(Account, message.account_id)
    if account is None:
        raise NotFound("the account of this message no longer exists")
    own = own_addresses(session, tenant_id=principal.tenant_id)
    forward = data.mode == "forward"
    to, cc = recipients(message, mode=data.mode, own=own)
    if data.to is not None:
        to = parse_addresses(data.to, field="to")
    if data.cc is not None:
        cc = parse_addresses(data.cc, field="cc")
    if not to:
        raise InvalidInput(
            "a forward needs 'to'" if forward else "the message has no sender to reply to",
            field="to",
        )
    subject = data.subject or prefixed(message.subject, "Fwd:" if forward else "Re:")
    refs = references(message)
    headers = dict(AUTO_HEADERS) if auto else {}
    if message.message_id:
        headers["In-Reply-To"] = message.message_id
    if refs:
        headers["References"] = " ".join(refs)
    body = data.body
    html = data.html_body
    if data.quote or forward:
        zone = settings.default_timezone
        body = f"{body.rstrip()}\n\n{quote_text(message, forward=forward, timezone=zone)}\n"
        if html is not None:
            html = f"{html}\n{quote_html(message)}"
    attachments = list(data.attachments or [])
    if data.include_attachments if data.include_attachments is not None else forward:
        attachments += _original_attachments(session, store, message)
    email, is_new = outbound.create(
        session,
        principal=principal,
        idempotency_key=idempotency_key,
        data=EmailCreate(
            to_email=to,
            cc_emails=cc or None,
            bcc_emails=data.bcc,
            subject=subject,
            body=body,
            html_body=html,
            attachments=attachments or None,
            account=account.id,
            headers=headers,
            scheduled_at=data.send_at,
        ),
        settings=settings,
        source="inbox",
    )
    thread = session.get_one(InboxThread, message.thread_id)
    if not is_new:
        return _earlier_reply(session, email=email, thread=thread)
    row = outgoing.outbound_row(
        email,
        account_id=account.id,
        thread=thread,
        sent_copy="pending" if wants_sent_copy(account) else None,
        reply_to_message_id=message.id,
        references=refs,
        in_reply_to=message.message_id,
    )
    session.add(row)
    session.flush()
    outgoing.add_to_thread(session, thread=thread, row=row)
    session.add_all(
        InboxParticipant(
            tenant_id=principal.tenant_id,
            message_id=row.id,
            thread_id=thread.id,
            role=role,
            email=address.lower(),
        )
        for role, values in (("from", [email.from_email]), ("to", to), ("cc", cc))
        for address in values
    )
    session.flush()
    return ReplyResult(
        email_id=email.id,
        message_id=email.message_id,
        status=email.status,
        thread_id=thread.id,
        inbox_message_id=row.id,
        to=to,
        cc=cc,
        subject=subject,
        in_reply_to=message.message_id,
        references=refs,
        scheduled_at=email.scheduled_at,
    )


def _earlier_reply(session: Session, *, email: Email, thread: InboxThread) -> ReplyResult:
    """The reply an idempotency key already queued, as it was queued."""
    row = session.scalars(
        select(InboxMessage).where(InboxMessage.email_id == email.id).order_by(InboxMessage.id)
    ).first()
    return ReplyResult(
        email_id=email.id,
        message_id=email.message_id,
        status=email.status,
        thread_id=row.thread_id if row is not None else thread.id,
        inbox_message_id=row.id if row is not None else 0,
        to=list(email.to_emails or []),
        cc=list(email.cc_emails or []),
        subject=email.subject,
        in_reply_to=row.in_reply_to if row is not None else None,
        references=list(row.reference_ids or []) if row is not None else [],
        scheduled_at=email.scheduled_at,
        duplicate=True,
    )

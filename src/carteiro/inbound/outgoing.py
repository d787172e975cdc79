"""Carteiro's own outbound messages in the inbox: joining threads, Sent copies, \\Answered."""

from __future__ import annotations

import logging
from datetime import datetime

from imapclient import IMAPClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.inbound import folders, mime
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxThread, InboxThreadKey
from carteiro.mail.imap import ImapConfig
from carteiro.outbound import service as outbound
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.inbox")


def _recipients(values: list[str] | None) -> list[dict[str, str]]:
    return [{"email": v.lower(), "name": ""} for v in values or []]


def outbound_row(
    email: Email,
    *,
    account_id: int,
    thread: InboxThread,
    sent_copy: str | None = None,
    reply_to_message_id: int | None = None,
    references: list[str] | None = None,
    in_reply_to: str | None = None,
) -> InboxMessage:
    """An inbox message standing for an outbound Email (not in any folder yet)."""
    when: datetime = email.sent_at or email.created_at or utcnow()
    return InboxMessage(
        tenant_id=email.tenant_id,
        account_id=account_id,
        thread_id=thread.id,
        folder_id=None,
        uid=None,
        direction="out",
        email_id=email.id,
        category="normal",
        reply_to_message_id=reply_to_message_id,
        sent_copy=sent_copy,
        message_id=email.message_id,
        in_reply_to=in_reply_to,
        reference_ids=references or [],
        subject=email.subject,
        from_address=email.from_email.lower(),
        from_name=None,
        to_addresses=_recipients(email.to_emails),
        cc_addresses=_recipients(email.cc_emails),
        reply_to=_recipients(email.reply_to),
        headers={},
        date=when,
        internal_date=None,
        size=email.size or 0,
        seen=True,
        flagged=False,
        answered=False,
        draft=False,
        has_attachments=False,
        truncated=False,
        snippet=mime.snippet(email.body or ""),
        text_body=email.body or "",
        html_body=mime.sanitize_html(email.html_body) if email.html_body else None,
        keywords=[],
        defects=[],
    )


def add_to_thread(session: Session, *, thread: InboxThread, row: InboxMessage) -> None:
    """Counts `row` in its thread and registers its Message-ID as a thread key."""
    thread.message_count = (thread.message_count or 0) + 1
    thread.last_message_at = max(thread.last_message_at, row.date)
    thread.first_message_at = min(thread.first_message_at, row.date)
    thread.snippet = row.snippet or thread.snippet
    if row.message_id:
        exists = session.get(InboxThreadKey, (row.account_id, row.message_id))
        if exists is None:
            session.add(
                InboxThreadKey(account_id=row.account_id, key=row.message_id, thread_id=thread.id)
            )


def pending_sent_copies(session: Session, *, account_id: int, limit: int = 50) -> list[int]:
    """Our sent replies still waiting to be copied into the Sent folder (once delivered)."""
    stmt = (
        select(InboxMessage.id)
        .join(Email, Email.id == InboxMessage.email_id)
        .where(
            InboxMessage.account_id == account_id,
            InboxMessage.sent_copy == "pending",
            Email.status == "sent",
        )
        .order_by(InboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def settle_unsendable(session: Session, *, account_id: int) -> None:
    """Replies that will never be sent need no Sent copy."""
    stmt = (
        select(InboxMessage)
        .join(Email, Email.id == InboxMessage.email_id)
        .where(
            InboxMessage.account_id == account_id,
            InboxMessage.sent_copy == "pending",
            Email.status.in_(("failed", "dead", "cancelled")),
        )
    )
    for row in session.scalars(stmt):
        row.sent_copy = "skipped"


def flush_outbox(
    runtime: Runtime, *, account_id: int, client: IMAPClient, config: ImapConfig
) -> int:
    """Copies delivered replies into Sent and flags what they answer as \\Answered."""
    with runtime.db.session() as session:
        settle_unsendable(session, account_id=account_id)
        ids = pending_sent_copies(session, account_id=account_id)
        sent_folder = folders.by_role(session, account_id=account_id, role="sent")
        work = []
        for row in session.scalars(select(InboxMessage).where(InboxMessage.id.in_(ids))):
            email = session.get(Email, row.email_id)
            target = session.get(InboxMessage, row.reply_to_message_id or -1)
            where = (
                session.get(InboxFolder, target.folder_id) if target and target.folder_id else None
            )
            work.append(
                (
                    row.id,
                    outbound.raw_bytes(session, email, settings=runtime.settings)
                    if email
                    else None,
                    email.sent_at if email else None,
                    (where.name, target.uid, target.id)
                    if where and target and target.uid
                    else None,
                )
            )
        sent_name = sent_folder.name if sent_folder else None
    done = 0
    for row_id, raw, sent_at, answered in work:
        state = "skipped"
        if raw and sent_name and config.append_sent:
            client.append(sent_name, raw, flags=[b"\\Seen"], msg_time=sent_at)
            state = "done"
            done += 1
        if answered:
            client.select_folder(answered[0], readonly=False)
            client.add_flags([answered[1]], [b"\\Answered"])
        with runtime.db.session() as session:
            session.execute(
                update(InboxMessage).where(InboxMessage.id == row_id).values(sent_copy=state)
            )
            if answered:
                session.execute(
                    update(InboxMessage).where(InboxMessage.id == answered[2]).values(answered=True)
                )
    return done

"""Reading the inbox: threads with filters and paging, one thread, one message's body in pages."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, union
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.db.textfold import fold, fold_text
from carteiro.errors import InvalidInput, NotFound
from carteiro.inbound.models import (
    InboxAttachment,
    InboxFolder,
    InboxMessage,
    InboxParticipant,
    InboxThread,
)
from carteiro.inbound.replies import get_message as get_message_row
from carteiro.inbound.schemas import (
    AddressPublic,
    AttachmentPublic,
    MessagePublic,
    MessageSummary,
    ThreadDetail,
    ThreadPage,
    ThreadSummary,
)

MAX_PAGE = 200
MAX_BODY_PAGE = 100_000
DEFAULT_BODY_PAGE = 20_000


def _folder_filter(tenant_id: int, folder: str) -> Select[int]:
    wanted = folder.strip()
    return select(InboxFolder.id).where(
        InboxFolder.tenant_id == tenant_id,
        or_(InboxFolder.name == wanted, InboxFolder.role == wanted.lower()),
    )


def encode_cursor(thread: ThreadSummary) -> str:
    """An opaque keyset position: after this thread in newest-first order."""
    text = f"{thread.last_message_at.isoformat()}|{thread.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        moment = datetime.fromisoformat(when)
        row_id = int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server gave", field="cursor") from None
    if moment.tzinfo is None or row_id < 1:
        raise InvalidInput("cursor is not one this server gave", field="cursor")
    return moment, row_id


def list_threads(
    session: Session,
    *,
    tenant_id: int,
    folder: str | None = None,
    folder_id: int | None = None,
    unread: bool | None = None,
    flagged: bool | None = None,
    q: str | None = None,
    lead_id: int | None = None,
    account: str | int | None = None,
    account_ids: Collection[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
    count: bool = True,
) -> ThreadPage:
    """Threads, newest activity first; every filter given must hold.

    `account_ids` limits the threads to those accounts (the mailboxes a person may see);
    `cursor` (a page's `next_cursor`) pages by keyset instead of `offset`. `q` ignores case
    and accents ("orcamento" finds "Orçamento"); `sender` / `recipient` match part of an
    address or display name in From, or in To and Cc, of any message of the thread."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
    if cursor and offset:
        raise InvalidInput("give cursor or offset, not both", field="cursor")
    if since and until and since > until:
        raise InvalidInput("since must be before until", field="since")
    where: list[ColumnElement[bool]] = [InboxThread.tenant_id == tenant_id]
    if account_ids is not None:
        where.append(InboxThread.account_id.in_(sorted(account_ids)))
    if account is not None:
        acc = accounts.get_or_raise(session, tenant_id=tenant_id, ref=account)
        where.append(InboxThread.account_id == acc.id)
    if folder:
        where.append(
            exists().where(
                InboxMessage.thread_id == InboxThread.id,
                InboxMessage.folder_id.in_(_folder_filter(tenant_id, folder)),
            )
        )
    if folder_id is not None:
        where.append(
            exists().where(
                InboxMessage.thread_id == InboxThread.id, InboxMessage.folder_id == folder_id
            )
        )
    if unread is not None:
        where.append(InboxThread.unread_count > 0 if unread else InboxThread.unread_count == 0)
    if flagged is not None:
        marked = exists().where(
            InboxMessage.thread_id == InboxThread.id, InboxMessage.flagged.is_(True)
        )
        where.append(marked if flagged else ~marked)
    if since is not None:
        where.append(InboxThread.last_message_at >= since)
    if until is not None:
        where.append(InboxThread.last_message_at < until)
    if lead_id is not None:
        # Two indexed lookups (an OR with EXISTS read every thread of the tenant).
        linked = select(InboxThread.id).where(InboxThread.lead_id == lead_id)
        taking_part = select(InboxParticipant.thread_id).where(InboxParticipant.lead_id == lead_id)
        where.append(InboxThread.id.in_(union(linked, taking_part)))
    if q and q.strip():
        text = fold_text(q.strip()[:200])
        where.append(
            or_(
                fold(InboxThread.subject).contains(text, autoescape=True),
                fold(InboxThread.snippet).contains(text, autoescape=True),
                exists().where(
                    InboxParticipant.thread_id == InboxThread.id,
                    or_(
                        InboxParticipant.email.contains(text.lower(), autoescape=True),
                        fold(InboxParticipant.name).contains(text, autoescape=True),
                    ),
                ),
                exists().where(
                    InboxMessage.thread_id == InboxThread.id,
                    fold(InboxMessage.text_body).contains(text, autoescape=True),
                ),
            )
        )
    for value, roles in ((sender, ("from",)), (recipient, ("to", "cc"))):
        if value is not None and value.strip():
            needle = fold_text(value.strip()[:320])
            where.append(
                exists().where(
                    InboxParticipant.thread_id == InboxThread.id,
                    InboxParticipant.role.in_(roles),
                    or_(
                        fold(InboxParticipant.email).contains(needle, autoescape=True),
                        fold(InboxParticipant.name).contains(needle, autoescape=True),
                    ),
                )
            )
    total = (session.scalar(select(func.count(InboxThread.id)).where(*where)) or 0) if count else -1
    page = list(where)
    if cursor:
        when, after = decode_cursor(cursor)
        page.append(
            or_(
                InboxThread.last_message_at < when,
                and_(InboxThread.last_message_at == when, InboxThread.id < after),
            )
        )
    rows = list(
        session.scalars(
            select(InboxThread)
            .where(*page)
            .order_by(InboxThread.last_message_at.desc(), InboxThread.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    names = _thread_folders(session, [t.id for t in rows])
    items = [_summary(t, names.get(t.id, [])) for t in rows]
    return ThreadPage(
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_cursor(items[-1]) if more and items else None,
    )


def _thread_folders(session: Session, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        select(InboxMessage.thread_id, InboxFolder.name)
        .join(InboxFolder, InboxFolder.id == InboxMessage.folder_id)
        .where(InboxMessage.thread_id.in_(ids))
        .distinct()
        .order_by(InboxFolder.name)
    )
    for thread_id, name in session.execute(stmt):
        found[thread_id].append(name)
    return found


def _summary(thread: InboxThread, folders: list[str]) -> ThreadSummary:
    return ThreadSummary(
        id=thread.id,
        account_id=thread.account_id,
        subject=thread.subject,
        snippet=thread.snippet,
        participants=list(thread.participants or []),
        message_count=thread.message_count,
        unread_count=thread.unread_count,
        has_attachments=thread.has_attachments,
        first_message_at=thread.first_message_at,
        last_message_at=thread.last_message_at,
        lead_id=thread.lead_id,
        folders=folders,
    )


def _addresses(values: list[dict[str, str]]) -> list[AddressPublic]:
    return [AddressPublic(email=v.get("email", ""), name=v.get("name") or "") for v in values]


def _message_fields(message: InboxMessage, folder: str | None) -> dict[str, object]:
    return {
        "id": message.id,
        "thread_id": message.thread_id,
        "account_id": message.account_id,
        "folder": folder,
        "direction": message.direction,
        "category": message.category,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "references": list(message.reference_ids or []),
        "subject": message.subject,
        "from": AddressPublic(email=message.from_address, name=message.from_name or "")
        if message.from_address
        else None,
        "to": _addresses(message.to_addresses),
        "cc": _addresses(message.cc_addresses),
        "reply_to": _addresses(message.reply_to),
        "date": message.date,
        "seen": message.seen,
        "flagged": message.flagged,
        "answered": message.answered,
        "snippet": message.snippet,
        "has_attachments": message.has_attachments,
        "email_id": message.email_id,
        "related_email_id": message.related_email_id,
        "lead_id": message.lead_id,
    }


def _folder_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(InboxFolder.id, InboxFolder.name).where(InboxFolder.id.in_(ids))
    return dict(session.execute(stmt).all())


def get_thread(
    session: Session,
    *,
    tenant_id: int,
    thread_id: int,
    account_ids: Collection[int] | None = None,
) -> ThreadDetail:
    """One thread with its messages; `account_ids`: only in those accounts (else not found)."""
    thread = session.get(InboxThread, thread_id)
    hidden = account_ids is not None and thread is not None and thread.account_id not in account_ids
    if thread is None or thread.tenant_id != tenant_id or hidden:
        raise NotFound(f"thread {thread_id} not found", field="thread_id")
    messages = list(
        session.scalars(
            select(InboxMessage)
            .where(InboxMessage.thread_id == thread.id)
            .order_by(InboxMessage.date, InboxMessage.id)
        )
    )
    names = _folder_names(session, {m.folder_id for m in messages if m.folder_id})
    summaries = [
        MessageSummary(**_message_fields(m, names.get(m.folder_id or -1))) for m in messages
    ]
    return ThreadDetail(
        **_summary(thread, sorted(set(names.values()))).model_dump(), messages=summaries
    )


def message_ids_by_thread(session: Session, *, thread_ids: list[int]) -> dict[int, list[int]]:
    """Each thread's message ids, oldest first (the order `get_thread` lists them in)."""
    found: dict[int, list[int]] = defaultdict(list)
    if not thread_ids:
        return found
    stmt = (
        select(InboxMessage.thread_id, InboxMessage.id)
        .where(InboxMessage.thread_id.in_(thread_ids))
        .order_by(InboxMessage.date, InboxMessage.id)
    )
    for thread_id, message_id in session.execute(stmt):
        found[thread_id].append(message_id)
    return found


def thread_exists(session: Session, *, tenant_id: int, thread_id: int) -> bool:
    thread = session.get(InboxThread, thread_id)
    return thread is not None and thread.tenant_id == tenant_id


def get_message(
    session: Session,
    *,
    tenant_id: int,
    message_id: int,
    offset: int = 0,
    limit: int = DEFAULT_BODY_PAGE,
    include_html: bool = False,
    account_ids: Collection[int] | None = None,
) -> MessagePublic:
    """One message with `limit` characters of its plain-text body from `offset`."""
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
    if not 1 <= limit <= MAX_BODY_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_BODY_PAGE}", field="limit")
    message = get_message_row(session, tenant_id=tenant_id, message_id=message_id)
    if account_ids is not None and message.account_id not in account_ids:
        raise NotFound(f"inbox message {message_id} not found", field="message_id")
    names = _folder_names(session, {message.folder_id} if message.folder_id else set())
    body = message.text_body or ""
    end = min(len(body), offset + limit)
    attachments = session.scalars(
        select(InboxAttachment)
        .where(InboxAttachment.message_id == message.id)
        .order_by(InboxAttachment.id)
    ).all()
    return MessagePublic(
        **_message_fields(message, names.get(message.folder_id or -1)),
        text=body[offset:end],
        text_offset=offset,
        text_length=len(body),
        next_offset=end if end < len(body) else None,
        html=message.html_body if include_html else None,
        headers={k: str(v) for k, v in (message.headers or {}).items()},
        attachments=[
            AttachmentPublic(
                id=a.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                content_id=a.content_id,
                inline=a.inline,
            )
            for a in attachments
        ],
        truncated=message.truncated,
        defects=list(message.defects or []),
    )

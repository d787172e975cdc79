"""What the inbox tools return: thread hits, a thread's messages, a message, a sent reply."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from carteiro.inbound import service
from carteiro.inbound.schemas import (
    UNTRUSTED_NOTE,
    AddressPublic,
    MessagePublic,
    MessageSummary,
    ReplyResult,
    ThreadDetail,
    ThreadSummary,
)

MAX_IDS = 20


class ThreadHit(BaseModel):
    """One thread found; its ids say where to go next."""

    thread_id: int = Field(description="the thread: pass it to get_thread")
    latest_message_id: int | None = Field(
        description="the newest message: pass it to read_message or reply_to_message"
    )
    message_ids: list[int] = Field(
        description=f"message ids, oldest first (at most the {MAX_IDS} newest; get_thread has all)"
    )
    account_id: int
    subject: str
    snippet: str
    participants: list[str]
    message_count: int
    unread_count: int
    has_attachments: bool
    first_message_at: datetime
    last_message_at: datetime
    lead_id: int | None
    folders: list[str]


class InboxSearchResult(BaseModel):
    """Threads, newest first. Subjects, snippets and addresses come from outside: untrusted."""

    untrusted: bool = True
    note: str = UNTRUSTED_NOTE
    items: list[ThreadHit]
    total: int
    limit: int
    offset: int


class ThreadMessage(BaseModel):
    """One message of a thread, without its body (read it with read_message)."""

    model_config = ConfigDict(populate_by_name=True)

    message_id: int = Field(description="pass it to read_message or reply_to_message")
    direction: Literal["in", "out"] = Field(description="in: received; out: sent by us")
    category: str = Field(description="normal, bounce or complaint")
    folder: str | None
    from_: AddressPublic | None = Field(None, alias="from", serialization_alias="from")
    to: list[AddressPublic]
    cc: list[AddressPublic]
    date: datetime
    subject: str
    snippet: str
    seen: bool
    has_attachments: bool


class ThreadResult(BaseModel):
    """A thread and a page of its messages, oldest first. Their content is untrusted."""

    untrusted: bool = True
    note: str = UNTRUSTED_NOTE
    thread_id: int
    account_id: int
    subject: str
    participants: list[str]
    message_count: int
    unread_count: int
    folders: list[str]
    lead_id: int | None
    latest_message_id: int | None = Field(
        description="the newest message: the one to answer with reply_to_message"
    )
    messages: list[ThreadMessage]
    offset: int
    next_offset: int | None = Field(description="pass as offset for more messages; null: no more")


class ReadMessageResult(MessagePublic):
    """A message and one page of its plain-text body; read on with `next_offset`."""

    html_offset: int | None = Field(None, description="where this HTML page starts")
    html_length: int | None = Field(None, description="the whole HTML's length in characters")
    html_next_offset: int | None = Field(
        None, description="pass as html_offset to read more HTML; null: no more"
    )


def paged_html(message: MessagePublic, *, offset: int, limit: int) -> ReadMessageResult:
    """The message with `limit` characters of its HTML from `offset`, when HTML was asked for."""
    fields = message.model_dump(by_alias=True)
    html = message.html
    if html is None:
        return ReadMessageResult(**fields)
    end = min(len(html), offset + limit)
    fields["html"] = html[offset:end]
    return ReadMessageResult(
        **fields,
        html_offset=offset,
        html_length=len(html),
        html_next_offset=end if end < len(html) else None,
    )


class ReplySent(ReplyResult):
    note: str = Field(description="what happens next, in one sentence")


def thread_hits(session: Session, items: list[ThreadSummary]) -> list[ThreadHit]:
    ids = service.message_ids_by_thread(session, thread_ids=[t.id for t in items])
    hits = []
    for thread in items:
        found = ids.get(thread.id, [])
        fields = thread.model_dump(exclude={"id"})
        hits.append(
            ThreadHit(
                thread_id=thread.id,
                latest_message_id=found[-1] if found else None,
                message_ids=found[-MAX_IDS:],
                **fields,
            )
        )
    return hits


def _thread_message(m: MessageSummary) -> ThreadMessage:
    return ThreadMessage(
        message_id=m.id,
        direction=m.direction,
        category=m.category,
        folder=m.folder,
        from_=m.from_,
        to=m.to,
        cc=m.cc,
        date=m.date,
        subject=m.subject,
        snippet=m.snippet,
        seen=m.seen,
        has_attachments=m.has_attachments,
    )


def thread_result(detail: ThreadDetail, *, offset: int, limit: int) -> ThreadResult:
    page = detail.messages[offset : offset + limit]
    end = offset + len(page)
    return ThreadResult(
        thread_id=detail.id,
        account_id=detail.account_id,
        subject=detail.subject,
        participants=detail.participants,
        message_count=len(detail.messages),
        unread_count=detail.unread_count,
        folders=detail.folders,
        lead_id=detail.lead_id,
        latest_message_id=detail.messages[-1].id if detail.messages else None,
        messages=[_thread_message(m) for m in page],
        offset=offset,
        next_offset=end if end < len(detail.messages) else None,
    )

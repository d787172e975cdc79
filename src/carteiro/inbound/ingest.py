"""Stores one fetched page of a folder: messages into threads, participants, attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carteiro.db.base import table_of
from carteiro.db.types import utcnow
from carteiro.events.bus import Bus, RepliesArrived, Reply
from carteiro.inbound import bounces, leads_link, outgoing, rules, threads
from carteiro.inbound.assign import PageThreads
from carteiro.inbound.dbutil import allocate_ids, chunks
from carteiro.inbound.models import (
    InboxAttachment,
    InboxFolder,
    InboxMessage,
    InboxParticipant,
    InboxRaw,
    InboxThread,
    InboxThreadKey,
)
from carteiro.inbound.parse import ParsedMessage
from carteiro.inbound.storage import BlobStore, pack

SYSTEM_FLAGS = {
    "\\seen": "seen",
    "\\flagged": "flagged",
    "\\answered": "answered",
    "\\draft": "draft",
}
OUT_ROLES = ("sent", "drafts")


@dataclass
class Fetched:
    """A message as fetched from the server and parsed (outside any transaction)."""

    uid: int
    flags: list[str]
    internal_date: datetime | None
    size: int
    raw: bytes
    parsed: ParsedMessage
    truncated: bool = False


@dataclass
class Context:
    tenant_id: int
    account_id: int
    own_addresses: set[str]
    store: BlobStore
    bus: Bus
    new_rows: list[tuple[InboxMessage, ParsedMessage]] = field(default_factory=list)
    raws: list[dict[str, object]] = field(default_factory=list)


class FlagValues(TypedDict):
    """A message's IMAP flags as its row stores them."""

    seen: bool
    flagged: bool
    answered: bool
    draft: bool
    keywords: list[str]


def flag_values(flags: list[str]) -> FlagValues:
    names = {SYSTEM_FLAGS.get(flag.lower()) for flag in flags}
    keywords = [
        flag[:100]
        for flag in flags
        if flag.lower() not in SYSTEM_FLAGS and not flag.startswith("\\")
    ]
    return FlagValues(
        seen="seen" in names,
        flagged="flagged" in names,
        answered="answered" in names,
        draft="draft" in names,
        keywords=keywords[:50],
    )


def _when(item: Fetched) -> datetime:
    date = item.parsed.date
    arrived = item.internal_date
    if date is None or (arrived is not None and date > arrived + timedelta(days=1)):
        # A missing or future Date header would misplace the thread: trust the arrival time.
        return arrived or utcnow()
    return date


def _addresses(p: ParsedMessage) -> list[tuple[str, str, str]]:
    rows = [("from", p.sender.email, p.sender.name)] if p.sender else []
    for role, values in (("to", p.to), ("cc", p.cc), ("reply_to", p.reply_to)):
        rows.extend((role, a.email, a.name) for a in values)
    return rows


def _row(ctx: Context, folder: InboxFolder, item: Fetched, when: datetime) -> InboxMessage:
    p = item.parsed
    direction = (
        "out"
        if folder.role in OUT_ROLES or (p.sender and p.sender.email in ctx.own_addresses)
        else "in"
    )
    return InboxMessage(
        tenant_id=ctx.tenant_id,
        account_id=ctx.account_id,
        folder_id=folder.id,
        uid=item.uid,
        direction=direction,
        category="normal",
        message_id=p.message_id,
        in_reply_to=p.in_reply_to,
        reference_ids=p.references,
        subject=p.subject,
        from_address=p.sender.email if p.sender else "",
        from_name=(p.sender.name or None) if p.sender else None,
        to_addresses=[a.as_dict() for a in p.to],
        cc_addresses=[a.as_dict() for a in p.cc],
        reply_to=[a.as_dict() for a in p.reply_to],
        headers=p.headers,
        date=when,
        internal_date=item.internal_date,
        size=item.size,
        snippet=p.snippet,
        text_body=p.text,
        html_body=p.html,
        has_attachments=bool(p.attachments),
        truncated=item.truncated,
        defects=p.defects[:20],
        **flag_values(item.flags),
    )


def _claim(session: Session, ctx: Context, items: list[Fetched]) -> dict[str, InboxMessage]:
    """Our outbound rows waiting for their copy in a folder, by Message-ID."""
    ids = [i.parsed.message_id for i in items if i.parsed.message_id]
    found: dict[str, InboxMessage] = {}
    for part in chunks(ids):
        stmt = select(InboxMessage).where(
            InboxMessage.account_id == ctx.account_id,
            InboxMessage.message_id.in_(part),
            InboxMessage.folder_id.is_(None),
        )
        for row in session.scalars(stmt):
            found.setdefault(row.message_id or "", row)
    return found


def existing_uids(session: Session, folder: InboxFolder, uids: list[int]) -> set[int]:
    found: set[int] = set()
    for part in chunks(uids):
        stmt = select(InboxMessage.uid).where(
            InboxMessage.folder_id == folder.id, InboxMessage.uid.in_(part)
        )
        found.update(u for u in session.scalars(stmt) if u is not None)
    return found


def store_page(session: Session, ctx: Context, folder: InboxFolder, items: list[Fetched]) -> int:
    """Inserts the page's messages not stored yet; returns how many were added."""
    items = sorted(items, key=lambda i: i.uid)
    present = existing_uids(session, folder, [i.uid for i in items])
    items = [i for i in items if i.uid not in present]
    if not items:
        return 0
    claimable = _claim(session, ctx, items)
    page = PageThreads(
        session,
        tenant_id=ctx.tenant_id,
        account_id=ctx.account_id,
        messages=[i.parsed for i in items],
    )
    planned: list[tuple[Fetched, InboxThread, datetime]] = []
    for item in items:
        p = item.parsed
        claimed = claimable.pop(p.message_id, None) if p.message_id else None
        if claimed is not None:
            claimed.folder_id, claimed.uid = folder.id, item.uid
            claimed.internal_date = item.internal_date
            for name, value in flag_values(item.flags).items():
                setattr(claimed, name, value)
            ctx.raws.append(
                {"message_id": claimed.id, "size": len(item.raw), "data": pack(item.raw)}
            )
            continue
        when = _when(item)
        # Our own mailbox is on every message: only other people make a subject match count.
        addresses = {a for _, a, _ in _addresses(p)} - ctx.own_addresses
        planned.append((item, page.assign(p, when, addresses), when))
    ids = allocate_ids(session, InboxMessage, len(planned) + len(page.outbound))
    rows: list[tuple[InboxMessage, Fetched | None, InboxThread]] = []
    for (item, thread, when), row_id in zip(planned, ids, strict=False):
        row = _row(ctx, folder, item, when)
        row.id, row.thread_id = row_id, thread.id
        ctx.raws.append({"message_id": row_id, "size": len(item.raw), "data": pack(item.raw)})
        rows.append((row, item, thread))
    for (email, thread), row_id in zip(page.outbound, ids[len(planned) :], strict=True):
        out = outgoing.outbound_row(email, account_id=ctx.account_id, thread=thread)
        out.id = row_id
        rows.append((out, None, thread))
    _count(page, rows)
    participants = _participants(ctx, rows)
    _link_leads(session, ctx, rows, participants)
    session.add_all([row for row, _, _ in rows])
    session.flush()
    _insert_children(session, ctx, page, rows, participants)
    arrived: list[tuple[InboxMessage, ParsedMessage]] = []
    for row, fetched, _ in rows:
        if fetched is not None and row.direction == "in":
            bounces.process(session, row=row, parsed=fetched.parsed, bus=ctx.bus)
            arrived.append((row, fetched.parsed))
    ctx.new_rows.extend(arrived)
    _publish_replies(session, ctx, arrived)
    session.flush()
    existing = {t.id for _, _, t in rows if t.id in page.existing}
    threads.recount(session, existing)
    return len(planned)


def _publish_replies(
    session: Session, ctx: Context, arrived: list[tuple[InboxMessage, ParsedMessage]]
) -> None:
    """Tells the domains that count replies (campaigns) which of the page's messages a person
    wrote in answer to another; a bounce or an automatic answer is no reply."""
    found: list[Reply] = []
    for row, parsed in arrived:
        answered = row.in_reply_to
        if not answered or row.category != "normal":  # bounces and complaints are marked
            continue
        if rules.loop_reason(row, parsed, ctx.own_addresses) is None:
            found.append(Reply(inbox_message_id=row.id, in_reply_to=answered, at=row.date))
    if found:
        ctx.bus.publish(session, RepliesArrived(tenant_id=ctx.tenant_id, replies=tuple(found)))


def _count(page: PageThreads, rows: list[tuple[InboxMessage, Fetched | None, InboxThread]]) -> None:
    """Thread totals for new threads; existing ones are recounted from the database."""
    for row, _, thread in rows:
        people = [row.from_address] + [a["email"] for a in row.to_addresses + row.cc_addresses]
        threads.add_participants(thread, people)
        newest = row.date >= thread.last_message_at
        if newest or not thread.snippet:
            thread.snippet = row.snippet or thread.snippet
        thread.has_attachments = thread.has_attachments or row.has_attachments
        if thread.id in page.existing:
            continue
        thread.message_count += 1
        if row.direction == "in" and not row.seen:
            thread.unread_count += 1
        thread.first_message_at = min(thread.first_message_at, row.date)
        thread.last_message_at = max(thread.last_message_at, row.date)


def _participants(
    ctx: Context, rows: list[tuple[InboxMessage, Fetched | None, InboxThread]]
) -> list[dict[str, object]]:
    found = []
    for row, item, thread in rows:
        people = (
            _addresses(item.parsed)
            if item is not None
            else [("from", row.from_address, "")]
            + [
                (role, a["email"], "")
                for role, values in (("to", row.to_addresses), ("cc", row.cc_addresses))
                for a in values
            ]
        )
        for role, email, name in people:
            found.append(
                {
                    "tenant_id": ctx.tenant_id,
                    "message_id": row.id,
                    "thread_id": thread.id,
                    "role": role,
                    "email": email,
                    "name": name or None,
                    "lead_id": None,
                }
            )
    return found


def _insert_children(
    session: Session,
    ctx: Context,
    page: PageThreads,
    rows: list[tuple[InboxMessage, Fetched | None, InboxThread]],
    participants: list[dict[str, object]],
) -> None:
    attachments = []
    for row, item, _ in rows:
        for att in item.parsed.attachments if item is not None else []:
            stored = ctx.store.put(att.data, kind="att")
            attachments.append(
                {
                    "tenant_id": ctx.tenant_id,
                    "message_id": row.id,
                    "filename": att.filename,
                    "content_type": att.content_type,
                    "size": stored.size,
                    "sha256": stored.sha256,
                    "storage_key": stored.key,
                    "content_id": att.content_id,
                    "inline": att.inline,
                }
            )
    keys = [
        {"account_id": ctx.account_id, "key": k, "thread_id": t.id}
        for k, t in page.by_key.items()
        if k not in page.stored_keys
    ]
    # Plain executemany: no RETURNING, so the driver sends one short statement many times.
    for model, values in (
        (InboxParticipant, participants),
        (InboxAttachment, attachments),
        (InboxThreadKey, keys),
        (InboxRaw, ctx.raws),
    ):
        if values:
            # The table, not the mapped class: ORM bulk inserts drop None values and split
            # the batch into many statement shapes.
            session.execute(insert(table_of(model)), values)


def _link_leads(
    session: Session,
    ctx: Context,
    rows: list[tuple[InboxMessage, Fetched | None, InboxThread]],
    participants: list[dict[str, object]],
) -> None:
    addresses = {str(p["email"]) for p in participants} - ctx.own_addresses
    leads = leads_link.lead_ids(session, tenant_id=ctx.tenant_id, addresses=addresses)
    if not leads:
        return
    for person in participants:
        person["lead_id"] = leads.get(str(person["email"]))
    for row, _, thread in rows:
        others = [row.from_address] if row.direction == "in" else []
        others += [a["email"] for a in row.to_addresses + row.cc_addresses]
        row.lead_id = next((leads[a] for a in others if a in leads), None)
        if thread.lead_id is None:
            thread.lead_id = row.lead_id

"""Stores one fetched page of a folder: messages into threads, participants, attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.inbound import bounces, leads_link, outgoing, threads
from carteiro.inbound.models import (
    InboxAttachment,
    InboxFolder,
    InboxMessage,
    InboxParticipant,
    InboxThread,
    InboxThreadKey,
)
from carteiro.inbound.parse import ParsedMessage
from carteiro.inbound.storage import BlobStore
from carteiro.outbound.models import Email

SYSTEM_FLAGS = {"\\seen": "seen", "\\flagged": "flagged", "\\answered": "answered", "\\draft": "draft"}
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
    new_rows: list[tuple[InboxMessage, ParsedMessage]] = field(default_factory=list)


def allocate_ids(session: Session, model: type, count: int) -> list[int]:
    """Primary keys for rows about to be inserted, so inserts need no RETURNING round trip."""
    if count <= 0:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        stmt = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
        return list(session.scalars(stmt, {"t": table.name, "n": count}))
    # SQLite transactions here begin IMMEDIATE: nobody else can insert until we commit.
    start = (session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


def flag_values(flags: list[str]) -> dict[str, object]:
    values: dict[str, object] = {name: False for name in SYSTEM_FLAGS.values()}
    keywords = []
    for flag in flags:
        name = SYSTEM_FLAGS.get(flag.lower())
        if name:
            values[name] = True
        elif not flag.startswith("\\"):
            keywords.append(flag[:100])
    values["keywords"] = keywords[:50]
    return values


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


class _Page:
    """Thread assignment for a page; new threads get ids in one flush."""

    def __init__(self, session: Session, ctx: Context, items: list[Fetched]) -> None:
        self.session = session
        self.ctx = ctx
        keys = [k for item in items for k in item.parsed.thread_ids]
        known = threads.threads_for_keys(session, account_id=ctx.account_id, keys=keys)
        loaded = {
            t.id: t
            for part in threads.chunks(sorted(set(known.values())))
            for t in session.scalars(select(InboxThread).where(InboxThread.id.in_(part)))
        }
        self.by_key: dict[str, InboxThread] = {k: loaded[t] for k, t in known.items()}
        self.stored_keys = set(known)
        self.existing: set[int] = set(loaded)
        unknown = [k for k in dict.fromkeys(keys) if k not in known]
        self.emails: dict[str, Email] = {}
        for part in threads.chunks(unknown):
            stmt = select(Email).where(Email.tenant_id == ctx.tenant_id, Email.message_id.in_(part))
            for email in session.scalars(stmt):
                self.emails.setdefault(email.message_id, email)
        self.outbound: list[tuple[Email, InboxThread]] = []
        self.thread_ids = allocate_ids(session, InboxThread, len(items))

    def _new_thread(self, p: ParsedMessage, when: datetime) -> InboxThread:
        thread = InboxThread(
            id=self.thread_ids.pop(0),
            tenant_id=self.ctx.tenant_id,
            account_id=self.ctx.account_id,
            subject=p.subject,
            subject_key=threads.subject_key(p.subject),
            snippet="",
            participants=[],
            first_message_at=when,
            last_message_at=when,
            message_count=0,
            unread_count=0,
            has_attachments=False,
        )
        self.session.add(thread)
        return thread

    def assign(self, p: ParsedMessage, when: datetime, addresses: set[str]) -> InboxThread:
        ids = p.thread_ids
        found = list({id(t): t for t in (self.by_key[k] for k in ids if k in self.by_key)}.values())
        if len(found) > 1:
            thread = self._merge(found)
        elif found:
            thread = found[0]
        else:
            sent = [self.emails[k] for k in ids if k in self.emails]
            thread = None
            if not sent and threads.is_reply_subject(p.subject):
                thread = threads.by_subject(
                    self.session,
                    account_id=self.ctx.account_id,
                    key=threads.subject_key(p.subject),
                    when=when,
                    addresses=addresses,
                )
                if thread is not None:
                    self.existing.add(thread.id)
            thread = thread or self._new_thread(p, when)
            for email in sent:
                self.outbound.append((email, thread))
                self.by_key[email.message_id] = thread
        for key in ids:
            self.by_key.setdefault(key, thread)
        return thread

    def _merge(self, found: list[InboxThread]) -> InboxThread:
        self.session.flush()
        into = min(found, key=lambda t: t.id)
        others = [t for t in found if t is not into]
        threads.merge(self.session, into=into.id, others=[t.id for t in others])
        for thread in others:
            self.session.expunge(thread)
            self.existing.discard(thread.id)
        self.session.refresh(into)
        self.existing.add(into.id)
        for key, thread in list(self.by_key.items()):
            if thread in others:
                self.by_key[key] = into
        return into


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
    for part in threads.chunks(ids):
        stmt = select(InboxMessage).where(
            InboxMessage.account_id == ctx.account_id,
            InboxMessage.message_id.in_(part),
            InboxMessage.folder_id.is_(None),
        )
        for row in session.scalars(stmt):
            found.setdefault(row.message_id or "", row)
    return found


def _existing_uids(session: Session, folder: InboxFolder, uids: list[int]) -> set[int]:
    found: set[int] = set()
    for part in threads.chunks(uids):
        stmt = select(InboxMessage.uid).where(
            InboxMessage.folder_id == folder.id, InboxMessage.uid.in_(part)
        )
        found.update(u for u in session.scalars(stmt) if u is not None)
    return found


def store_page(session: Session, ctx: Context, folder: InboxFolder, items: list[Fetched]) -> int:
    """Inserts the page's messages not stored yet; returns how many were added."""
    items = sorted(items, key=lambda i: i.uid)
    present = _existing_uids(session, folder, [i.uid for i in items])
    items = [i for i in items if i.uid not in present]
    if not items:
        return 0
    claimable = _claim(session, ctx, items)
    page = _Page(session, ctx, items)
    planned: list[tuple[Fetched, InboxThread, datetime]] = []
    for item in items:
        p = item.parsed
        claimed = claimable.pop(p.message_id or "", None) if p.message_id else None
        if claimed is not None:
            claimed.folder_id, claimed.uid, claimed.internal_date = folder.id, item.uid, item.internal_date
            for name, value in flag_values(item.flags).items():
                setattr(claimed, name, value)
            claimed.raw_key = ctx.store.put(item.raw, kind="raw", compress=True).key
            continue
        when = _when(item)
        addresses = {a for _, a, _ in _addresses(p)}
        planned.append((item, page.assign(p, when, addresses), when))
    session.flush()
    rows: list[tuple[InboxMessage, Fetched, InboxThread]] = []
    for item, thread, when in planned:
        row = _row(ctx, folder, item, when)
        row.thread_id = thread.id
        row.raw_key = ctx.store.put(item.raw, kind="raw", compress=True).key
        rows.append((row, item, thread))
    session.add_all([row for row, _, _ in rows])
    for email, thread in page.outbound:
        out = outgoing.outbound_row(email, account_id=ctx.account_id, thread=thread)
        session.add(out)
        rows.append((out, None, thread))  # type: ignore[arg-type]
    session.flush()
    _children(session, ctx, page, rows)
    for row, item, _ in rows:
        if item is not None and row.direction == "in":
            bounces.process(session, row=row, parsed=item.parsed)
            ctx.new_rows.append((row, item.parsed))
    existing = [t for t in {id(t): t for _, _, t in rows}.values() if t.id in page.existing]
    session.flush()
    threads.recount(session, [t.id for t in existing])
    return len(planned)


def _children(
    session: Session,
    ctx: Context,
    page: _Page,
    rows: list[tuple[InboxMessage, Fetched | None, InboxThread]],
) -> None:
    participants: list[InboxParticipant] = []
    attachments: list[InboxAttachment] = []
    for row, item, thread in rows:
        people = (
            _addresses(item.parsed)
            if item is not None
            else [("from", row.from_address, "")]
            + [("to", a["email"], "") for a in row.to_addresses]
        )
        for role, email, name in people:
            participants.append(
                InboxParticipant(
                    tenant_id=ctx.tenant_id,
                    message_id=row.id,
                    thread_id=thread.id,
                    role=role,
                    email=email,
                    name=name or None,
                )
            )
        threads.add_participants(thread, [e for _, e, _ in people])
        if item is not None:
            for att in item.parsed.attachments:
                stored = ctx.store.put(att.data, kind="att")
                attachments.append(
                    InboxAttachment(
                        tenant_id=ctx.tenant_id,
                        message_id=row.id,
                        filename=att.filename,
                        content_type=att.content_type,
                        size=stored.size,
                        sha256=stored.sha256,
                        storage_key=stored.key,
                        content_id=att.content_id,
                        inline=att.inline,
                    )
                )
        if thread.id not in page.existing:
            thread.message_count += 1
            if row.direction == "in" and not row.seen:
                thread.unread_count += 1
            thread.first_message_at = min(thread.first_message_at, row.date)
            if row.date >= thread.last_message_at or not thread.snippet:
                thread.last_message_at = max(thread.last_message_at, row.date)
                thread.snippet = row.snippet
            thread.has_attachments = thread.has_attachments or row.has_attachments
        elif row.snippet and row.date >= thread.last_message_at:
            thread.snippet = row.snippet
            thread.has_attachments = thread.has_attachments or row.has_attachments
    _link_leads(session, ctx, rows, participants)
    session.add_all(participants)
    session.add_all(attachments)
    new_keys = [(k, t) for k, t in page.by_key.items() if k not in page.stored_keys]
    session.add_all(
        InboxThreadKey(account_id=ctx.account_id, key=k, thread_id=t.id) for k, t in new_keys
    )


def _link_leads(
    session: Session,
    ctx: Context,
    rows: list[tuple[InboxMessage, Fetched | None, InboxThread]],
    participants: list[InboxParticipant],
) -> None:
    addresses = {p.email for p in participants if p.email not in ctx.own_addresses}
    leads = leads_link.lead_ids(session, tenant_id=ctx.tenant_id, addresses=addresses)
    if not leads:
        return
    for person in participants:
        person.lead_id = leads.get(person.email)
    for row, _, thread in rows:
        others = [row.from_address] if row.direction == "in" else []
        others += [a["email"] for a in row.to_addresses + row.cc_addresses]
        row.lead_id = next((leads[a] for a in others if a in leads), None)
        if thread.lead_id is None:
            thread.lead_id = row.lead_id

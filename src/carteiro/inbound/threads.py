"""Threading: Message-ID, In-Reply-To and References first, then the subject as a fallback."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from carteiro.db.base import table_of
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.models import (
    InboxAutoReply,
    InboxMessage,
    InboxParticipant,
    InboxThread,
    InboxThreadKey,
)

# Reply and forward prefixes in the languages our users write (Outlook translates them).
_PREFIX = re.compile(
    r"^\s*((re|res|fw|fwd|enc|aw|wg|sv|vs|antw|rif|r|tr|ref)\s*(\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")
SUBJECT_WINDOW = timedelta(days=30)
MAX_PARTICIPANTS = 30


def strip_prefixes(subject: str) -> str:
    """The subject without any Re:/Fwd:/RES:/ENC: prefixes or leading [list] tags."""
    text = subject or ""
    for _ in range(10):
        stripped = _LIST_TAG.sub("", _PREFIX.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def subject_key(subject: str) -> str:
    return " ".join(strip_prefixes(subject).lower().split())[:255]


def is_reply_subject(subject: str) -> bool:
    return bool(_PREFIX.match(_LIST_TAG.sub("", subject or "", count=1)))


def threads_for_keys(session: Session, *, account_id: int, keys: Iterable[str]) -> dict[str, int]:
    """Message-ID → thread id for every key already known in the account."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, int] = {}
    for part in chunks(wanted):
        stmt = select(InboxThreadKey.key, InboxThreadKey.thread_id).where(
            InboxThreadKey.account_id == account_id, InboxThreadKey.key.in_(part)
        )
        found.update(dict(session.execute(stmt).all()))
    return found


def by_subject(
    session: Session, *, account_id: int, key: str, when: datetime, addresses: set[str]
) -> InboxThread | None:
    """A recent thread with the same subject that shares a participant, for replies that lost
    their In-Reply-To and References."""
    if not key:
        return None
    stmt = (
        select(InboxThread)
        .where(
            InboxThread.account_id == account_id,
            InboxThread.subject_key == key,
            InboxThread.last_message_at >= when - SUBJECT_WINDOW,
        )
        .order_by(InboxThread.last_message_at.desc())
        .limit(5)
    )
    for thread in session.scalars(stmt):
        if addresses & set(thread.participants or []):
            return thread
    return None


def merge(session: Session, *, into: int, others: Iterable[int]) -> None:
    """Moves every message, key and participant of `others` into thread `into`."""
    ids = [t for t in others if t != into]
    if not ids:
        return
    for table in (InboxMessage, InboxParticipant, InboxThreadKey):
        session.execute(update(table).where(table.thread_id.in_(ids)).values(thread_id=into))
    # An auto-reply already sent in a merged thread still counts for the merged one.
    session.execute(
        delete(InboxAutoReply).where(
            InboxAutoReply.thread_id.in_(ids),
            InboxAutoReply.rule_id.in_(
                select(InboxAutoReply.rule_id).where(InboxAutoReply.thread_id == into)
            ),
        )
    )
    session.execute(
        update(InboxAutoReply).where(InboxAutoReply.thread_id.in_(ids)).values(thread_id=into)
    )
    session.execute(delete(InboxThread).where(InboxThread.id.in_(ids)))
    recount(session, [into])


def recount(session: Session, thread_ids: Iterable[int]) -> None:
    """Recomputes counts and dates from the messages; deletes threads left empty."""
    ids = list(dict.fromkeys(thread_ids))
    table = table_of(InboxThread)
    for part in chunks(ids):
        stats = session.execute(
            select(
                InboxMessage.thread_id,
                func.count(InboxMessage.id),
                func.count(InboxMessage.id).filter(
                    InboxMessage.seen.is_(False), InboxMessage.direction == "in"
                ),
                func.min(InboxMessage.date),
                func.max(InboxMessage.date),
            )
            .where(InboxMessage.thread_id.in_(part))
            .group_by(InboxMessage.thread_id)
        ).all()
        values = [
            {"tid": t, "n": n, "unread": u, "first": first, "last": last}
            for t, n, u, first, last in stats
        ]
        if values:
            # One executemany on the table: an ORM UPDATE would re-evaluate every object in the
            # session for each thread.
            session.execute(
                update(table)
                .where(table.c.id == bindparam("tid"))
                .values(
                    message_count=bindparam("n"),
                    unread_count=bindparam("unread"),
                    first_message_at=bindparam("first"),
                    last_message_at=bindparam("last"),
                ),
                values,
            )
        alive = {v["tid"] for v in values}
        empty = [t for t in part if t not in alive]
        if empty:
            session.execute(
                delete(InboxThread)
                .where(InboxThread.id.in_(empty))
                .execution_options(synchronize_session=False)
            )
    wanted = set(ids)
    stale = ["message_count", "unread_count", "first_message_at", "last_message_at"]
    for thread in [o for o in session.identity_map.values() if isinstance(o, InboxThread)]:
        if thread.id in wanted:
            # Loaded threads would otherwise keep their old counts in memory.
            session.expire(thread, stale)


def add_participants(thread: InboxThread, addresses: Iterable[str]) -> None:
    current = list(thread.participants or [])
    for address in addresses:
        if address and address not in current and len(current) < MAX_PARTICIPANTS:
            current.append(address)
    thread.participants = current

"""After a UIDVALIDITY change: keep the rows we can recognise, under their new UIDs."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.inbound.ingest import flag_values
from carteiro.inbound.models import InboxFolder, InboxMessage

# uid -> (Message-ID, size, flags) as the server lists the folder now.
ServerView = dict[int, tuple[str | None, int, list[str]]]


def remap(
    session: Session, *, folder_id: int, validity: int, server: ServerView
) -> tuple[list[int], list[int]]:
    """Matches stored rows to the new UIDs by (Message-ID, size).

    Returns the UIDs to fetch (nothing stored matches them) and the ids of rows that no longer
    exist on the server. The folder restarts at last_uid 0 so an interrupted resync resumes."""
    rows = session.execute(
        select(InboxMessage.id, InboxMessage.message_id, InboxMessage.size).where(
            InboxMessage.folder_id == folder_id
        )
    ).all()
    pool: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row_id, message_id, size in rows:
        if message_id:
            pool[(message_id, size)].append(row_id)
    # Clear every UID first: old and new numbers overlap.
    session.execute(
        update(InboxMessage).where(InboxMessage.folder_id == folder_id).values(uid=None)
    )
    remapped = []
    unmatched: list[int] = []
    for uid in sorted(server):
        message_id, size, flags = server[uid]
        candidates = pool.get((message_id, size)) if message_id else None
        if candidates:
            remapped.append({"id": candidates.pop(0), "uid": uid, **flag_values(flags)})
        else:
            unmatched.append(uid)
    if remapped:
        session.execute(update(InboxMessage), remapped)
    stale = [r for rs in pool.values() for r in rs] + [r[0] for r in rows if not r[1]]
    folder = session.get_one(InboxFolder, folder_id)
    folder.uidvalidity = validity
    folder.highest_modseq = None
    folder.last_uid = 0
    return unmatched, stale

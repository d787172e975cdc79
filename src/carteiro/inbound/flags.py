"""Flag changes (seen, flagged, answered, draft, keywords) of messages already stored."""

from __future__ import annotations

from imapclient import IMAPClient
from sqlalchemy import select, update

from carteiro.inbound import ingest, threads
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.models import InboxMessage
from carteiro.runtime import Runtime

CHUNK = 1000


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def known(
    runtime: Runtime, folder_id: int, uids: list[int] | None = None
) -> dict[int, tuple[int, tuple[bool, bool, bool, bool, list[str]]]]:
    """uid -> (row id, flags as stored) for the folder (or just those UIDs)."""
    columns = (
        InboxMessage.uid,
        InboxMessage.id,
        InboxMessage.seen,
        InboxMessage.flagged,
        InboxMessage.answered,
        InboxMessage.draft,
        InboxMessage.keywords,
    )
    where = [InboxMessage.folder_id == folder_id, InboxMessage.uid.is_not(None)]
    with runtime.db.session() as session:
        if uids is None:
            rows = session.execute(select(*columns).where(*where)).all()
        else:
            rows = [
                r
                for part in chunks(uids)
                for r in session.execute(
                    select(*columns).where(*where, InboxMessage.uid.in_(part))
                ).all()
            ]
    # Every row selected has a UID; the filter tells the checker so.
    return {
        r[0]: (r[1], (r[2], r[3], r[4], r[5], sorted(r[6] or []))) for r in rows if r[0] is not None
    }


def refresh(
    runtime: Runtime, client: IMAPClient, *, folder_id: int, last_uid: int, modseq: int | None
) -> int:
    """Applies flag changes of stored messages; with `modseq` (CONDSTORE) only what changed."""
    if modseq:
        # Only what changed since the last sync (RFC 7162), in one round trip.
        changed = client.search(["MODSEQ", str(modseq + 1)])
        uids = sorted(u for u in changed if u <= last_uid)
        stored = known(runtime, folder_id, uids)
    else:
        stored = known(runtime, folder_id)
        uids = sorted(u for u in stored if u <= last_uid)
    changes = []
    for start in range(0, len(uids), CHUNK):
        part = uids[start : start + CHUNK]
        for uid, data in client.fetch(part, ["FLAGS"]).items():
            if uid not in stored or b"FLAGS" not in data:
                continue
            values = ingest.flag_values([_text(f) for f in data[b"FLAGS"]])
            now = (
                values["seen"],
                values["flagged"],
                values["answered"],
                values["draft"],
                sorted(values["keywords"]),
            )
            row_id, before = stored[uid]
            if now != before:
                changes.append({"id": row_id, **values})
    if changes:
        with runtime.db.session() as session:
            session.execute(update(InboxMessage), changes)
            affected = session.scalars(
                select(InboxMessage.thread_id)
                .where(InboxMessage.id.in_([c["id"] for c in changes]))
                .distinct()
            ).all()
            threads.recount(session, affected)
    return len(changes)

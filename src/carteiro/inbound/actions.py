"""Inbox actions (archive, move, flag, read, delete) done on the IMAP server, then stored."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from imapclient import IMAPClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from carteiro.db.leases import worker_id
from carteiro.errors import Conflict
from carteiro.inbound import imap_ops, threads
from carteiro.inbound.action_plan import Plan, plan
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.locks import acquire_waiting, make_locks, sync_lock
from carteiro.inbound.models import InboxFolder, InboxMessage
from carteiro.inbound.schemas import ActionCreate, ActionName, ActionResult
from carteiro.inbound.worker import load_config
from carteiro.mail import imap
from carteiro.runtime import Runtime

# A sync holds the account's lock while it writes; an action waits this long for it.
ACTION_WAIT_SECONDS = 15.0
FLAGS: dict[str, tuple[bytes, str, bool]] = {
    "flag": (b"\\Flagged", "flagged", True),
    "unflag": (b"\\Flagged", "flagged", False),
    "read": (b"\\Seen", "seen", True),
    "unread": (b"\\Seen", "seen", False),
}


@dataclass
class _Outcome:
    """What the server did, row by row, so it is stored even when a later command fails."""

    flagged: list[int] = field(default_factory=list)
    # row id → (destination folder id, destination UID or None when the server did not say)
    moved: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    gone: list[int] = field(default_factory=list)


def _run_imap(client: IMAPClient, work: Plan, action: ActionName, done: _Outcome) -> None:
    """Sends the commands folder by folder, noting in `done` what the server has done."""
    for folder_id, rows in sorted(work.groups.items()):
        source = work.folders[folder_id]
        target = work.target
        if action in ("archive", "move") and target is not None and target.id == folder_id:
            continue  # already there
        uids = [r.uid for r in rows if r.uid is not None]
        imap_ops.select(client, source.name, uidvalidity=source.uidvalidity)
        if action in FLAGS:
            flag, _, on = FLAGS[action]
            imap_ops.set_flag(client, uids, flag, on=on)
            done.flagged.extend(r.id for r in rows)
        elif action == "delete" and (target is None or target.id == folder_id):
            imap_ops.expunge(client, uids)
            done.gone.extend(r.id for r in rows)
        elif target is not None:
            result = imap_ops.move(client, uids, target.name)
            validity, mapping = result if result else (None, {})
            # New UIDs are only ours to store when they belong to the folder we know.
            trusted = validity is not None and target.uidvalidity in (None, validity)
            for row in rows:
                new_uid = mapping.get(row.uid or 0) if trusted else None
                done.moved[row.id] = (target.id, new_uid)


def _store(session: Session, work: Plan, action: ActionName, done: _Outcome) -> None:
    """Writes what the server did, so the next sync finds the rows already as they are."""
    touched_folders: set[int] = set(work.groups)
    if work.target is not None:
        touched_folders.add(work.target.id)
    affected = [r.thread_id for rows in work.groups.values() for r in rows]
    affected += [r.thread_id for r in work.loose]
    if action in FLAGS:
        _, column, on = FLAGS[action]
        ids = done.flagged + [r.id for r in work.loose]
        for part in chunks(ids):
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.id.in_(part))
                .values({column: on})
                .execution_options(synchronize_session=False)
            )
    remapped = [
        {"id": row_id, "folder_id": folder_id, "uid": uid}
        for row_id, (folder_id, uid) in done.moved.items()
        if uid is not None
    ]
    if remapped:
        session.execute(update(InboxMessage), remapped)
    # Moved without new UIDs: the next sync of the destination fetches them as new mail.
    gone = done.gone + [row_id for row_id, (_, uid) in done.moved.items() if uid is None]
    for part in chunks(gone):
        session.execute(
            delete(InboxMessage)
            .where(InboxMessage.id.in_(part))
            .execution_options(synchronize_session=False)
        )
    threads.recount(session, affected)
    recount_folders(session, touched_folders)


def recount_folders(session: Session, folder_ids: Iterable[int]) -> None:
    """Each folder's message and unread counts, from its rows."""
    ids = sorted(set(folder_ids))
    if not ids:
        return
    counts = {
        fid: (n, unread)
        for fid, n, unread in session.execute(
            select(
                InboxMessage.folder_id,
                func.count(InboxMessage.id),
                func.count(InboxMessage.id).filter(InboxMessage.seen.is_(False)),
            )
            .where(InboxMessage.folder_id.in_(ids))
            .group_by(InboxMessage.folder_id)
        )
    }
    for fid in ids:
        n, unread = counts.get(fid, (0, 0))
        session.execute(
            update(InboxFolder)
            .where(InboxFolder.id == fid)
            .values(message_count=n, unread_count=unread)
            .execution_options(synchronize_session=False)
        )


def _carry_out(runtime: Runtime, work: Plan, action: ActionName) -> _Outcome:
    done = _Outcome()
    if not work.groups:
        with runtime.db.session() as session:
            _store(session, work, action, done)
        return done
    config = load_config(runtime, account_id=work.account_id)
    locks = make_locks(runtime.db, worker_id())
    try:
        # Under the sync lock: a sync running now would write back what it read before us.
        if not acquire_waiting(locks, sync_lock(work.account_id), timeout=ACTION_WAIT_SECONDS):
            raise Conflict(f"account '{work.account}' is being synced right now; try again shortly")
        try:
            client = imap.connect(config)
            try:
                _run_imap(client, work, action, done)
            finally:
                imap.close(client)
                # Even after a failure, what the server did is stored.
                with runtime.db.session() as session:
                    _store(session, work, action, done)
        finally:
            locks.release(sync_lock(work.account_id))
    finally:
        locks.close()
    return done


def perform_blocking(
    runtime: Runtime,
    *,
    tenant_id: int,
    data: ActionCreate,
    message_ids: Sequence[int] = (),
    thread_ids: Sequence[int] = (),
    account_ids: Collection[int] | None = None,
) -> ActionResult:
    """Plans in one short transaction, talks IMAP outside any, stores in another per account.

    `account_ids`: only messages of those accounts (the mailboxes a person may see)."""
    with runtime.db.session() as session:
        plans = plan(
            session,
            tenant_id=tenant_id,
            data=data,
            message_ids=message_ids,
            thread_ids=thread_ids,
            account_ids=account_ids,
        )
    result = ActionResult(action=data.action, message_ids=[], thread_ids=[])
    notes: list[str] = []
    for work in plans:
        done = _carry_out(runtime, work, data.action)
        rows = [r for group in work.groups.values() for r in group] + work.loose
        result.message_ids.extend(r.id for r in rows)
        result.thread_ids.extend(dict.fromkeys(r.thread_id for r in rows))
        result.changed += len(done.flagged) + len(done.moved) + len(done.gone)
        result.moved += len(done.moved)
        result.deleted_for_good += len(done.gone)
        if work.target is not None:
            result.folder = work.target.name
        if data.action == "delete" and done.gone:
            notes.append(
                f"account '{work.account}' has no Trash folder: deleted for good"
                if work.target is None
                else "already in Trash: deleted for good"
            )
    result.message_ids.sort()
    result.thread_ids = sorted(set(result.thread_ids))
    result.note = "; ".join(dict.fromkeys(notes)) or None
    return result


async def perform(
    runtime: Runtime,
    *,
    tenant_id: int,
    data: ActionCreate,
    message_ids: Sequence[int] = (),
    thread_ids: Sequence[int] = (),
    account_ids: Collection[int] | None = None,
) -> ActionResult:
    """The API's, MCP's and console's entry: the IMAP work runs in a thread."""
    return await asyncio.to_thread(
        perform_blocking,
        runtime,
        tenant_id=tenant_id,
        data=data,
        message_ids=message_ids,
        thread_ids=thread_ids,
        account_ids=account_ids,
    )

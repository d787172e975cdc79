"""Inbox actions (archive, move, flag, read, delete) done on the IMAP server, then stored."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from imapclient import IMAPClient
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.db.leases import worker_id
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.inbound import folders, imap_ops, threads
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.locks import acquire_waiting, make_locks, sync_lock
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxThread
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
MOVING = ("archive", "move", "delete")
# A thread moved or deleted leaves our own Sent and Drafts copies where they are.
KEEP_ROLES = ("sent", "drafts")


@dataclass(frozen=True)
class _Row:
    id: int
    thread_id: int
    account_id: int
    folder_id: int | None
    uid: int | None
    flagged: bool
    direction: str


@dataclass(frozen=True)
class _Folder:
    id: int
    name: str
    role: str | None
    uidvalidity: int | None


@dataclass
class _Plan:
    """What to do in one account: IMAP rows by folder, rows in no folder, the destination."""

    account_id: int
    account: str
    folders: dict[int, _Folder]
    groups: dict[int, list[_Row]] = field(default_factory=dict)
    loose: list[_Row] = field(default_factory=list)
    target: _Folder | None = None


@dataclass
class _Outcome:
    """What the server did, row by row, so it is stored even when a later command fails."""

    flagged: list[int] = field(default_factory=list)
    # row id → (destination folder id, destination UID or None when the server did not say)
    moved: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    gone: list[int] = field(default_factory=list)


_COLUMNS = (
    InboxMessage.id,
    InboxMessage.thread_id,
    InboxMessage.account_id,
    InboxMessage.folder_id,
    InboxMessage.uid,
    InboxMessage.flagged,
    InboxMessage.direction,
    InboxMessage.date,
)


def _rows(session: Session, where: Iterable[object]) -> list[tuple[_Row, object]]:
    stmt = select(*_COLUMNS).where(*where).order_by(InboxMessage.date, InboxMessage.id)  # type: ignore[arg-type]
    return [
        (_Row(r[0], r[1], r[2], r[3], r[4] if r[3] is not None else None, r[5], r[6]), r[7])
        for r in session.execute(stmt)
    ]


def _folder_rows(session: Session, account_ids: set[int]) -> dict[int, InboxFolder]:
    stmt = select(InboxFolder).where(InboxFolder.account_id.in_(account_ids))
    return {f.id: f for f in session.scalars(stmt)}


def _thread_choice(
    action: ActionName, rows: list[_Row], roles: dict[int, str | None]
) -> list[_Row]:
    """The messages of one thread (oldest first) that a thread action applies to."""
    in_folder = [r for r in rows if r.folder_id is not None and r.uid is not None]
    if action == "archive":
        return [r for r in in_folder if roles.get(r.folder_id or 0) == "inbox"]
    if action in ("move", "delete"):
        return [r for r in in_folder if roles.get(r.folder_id or 0) not in KEEP_ROLES]
    if action == "flag":
        # The newest message carries the flag, as webmail does for a starred conversation.
        return (in_folder or rows)[-1:]
    if action == "unflag":
        return [r for r in rows if r.flagged]
    if action == "unread":
        received = [r for r in rows if r.direction == "in"]
        return (received or rows)[-1:]
    return rows


def _select(
    session: Session,
    *,
    tenant_id: int,
    action: ActionName,
    message_ids: Sequence[int],
    thread_ids: Sequence[int],
    account_ids: Collection[int] | None,
) -> list[_Row]:
    chosen: dict[int, _Row] = {}
    visible_messages: list[ColumnElement[bool]] = []
    visible_threads: list[ColumnElement[bool]] = []
    if account_ids is not None:
        visible_messages.append(InboxMessage.account_id.in_(sorted(account_ids)))
        visible_threads.append(InboxThread.account_id.in_(sorted(account_ids)))
    if message_ids:
        found = {
            row.id: row
            for part in chunks(list(dict.fromkeys(message_ids)))
            for row, _ in _rows(
                session,
                [InboxMessage.tenant_id == tenant_id, InboxMessage.id.in_(part), *visible_messages],
            )
        }
        for message_id in message_ids:
            row = found.get(message_id)
            if row is None:
                raise NotFound(f"inbox message {message_id} not found", field="message_id")
            if row.folder_id is None and action in MOVING:
                raise Conflict(
                    f"message {message_id} is Carteiro's own record of a sent message and is "
                    "in no IMAP folder: only flag, unflag, read and unread apply to it",
                    field="message_id",
                )
            chosen[row.id] = row
    if thread_ids:
        wanted = list(dict.fromkeys(thread_ids))
        known = set(
            session.scalars(
                select(InboxThread.id).where(
                    InboxThread.tenant_id == tenant_id, InboxThread.id.in_(wanted), *visible_threads
                )
            )
        )
        for thread_id in wanted:
            if thread_id not in known:
                raise NotFound(f"thread {thread_id} not found", field="thread_id")
        by_thread: dict[int, list[_Row]] = defaultdict(list)
        for part in chunks(wanted):
            for row, _ in _rows(session, [InboxMessage.thread_id.in_(part)]):
                by_thread[row.thread_id].append(row)
        account_ids = {r.account_id for rows in by_thread.values() for r in rows}
        roles = {f.id: f.role for f in _folder_rows(session, account_ids).values()}
        for rows in by_thread.values():
            for row in _thread_choice(action, rows, roles):
                chosen.setdefault(row.id, row)
    return list(chosen.values())


def _target(
    session: Session, *, account: Account, data: ActionCreate, known: dict[int, InboxFolder]
) -> InboxFolder | None:
    if data.action == "archive":
        found = folders.by_role(session, account_id=account.id, role="archive")
        # Gmail archives by taking a message out of INBOX: it stays in All Mail.
        found = found or folders.by_role(session, account_id=account.id, role="all")
        if found is None:
            raise Conflict(
                f"account '{account.name}' has no Archive folder: move the messages to one of "
                "its folders instead",
                field="folder",
            )
        return found
    if data.action == "delete":
        return folders.by_role(session, account_id=account.id, role="trash")
    if data.action == "move":
        wanted = (data.folder or "").strip()
        for candidate in sorted(known.values(), key=lambda f: f.id):
            if candidate.account_id != account.id or not candidate.present:
                continue
            if candidate.name == wanted or candidate.role == wanted.lower():
                if not candidate.selectable:
                    raise InvalidInput(
                        f"the folder '{candidate.name}' cannot hold messages", field="folder"
                    )
                return candidate
        raise InvalidInput(
            f"account '{account.name}' has no folder '{wanted}' (give a name from "
            "GET /inbox/folders or a role such as archive, junk, trash)",
            field="folder",
        )
    return None


def _as_folder(row: InboxFolder) -> _Folder:
    return _Folder(row.id, row.name, row.role, row.uidvalidity)


def plan(
    session: Session,
    *,
    tenant_id: int,
    data: ActionCreate,
    message_ids: Sequence[int] = (),
    thread_ids: Sequence[int] = (),
    account_ids: Collection[int] | None = None,
) -> list[_Plan]:
    """Checks the request against the stored rows; one plan per account involved."""
    rows = _select(
        session,
        tenant_id=tenant_id,
        action=data.action,
        message_ids=message_ids,
        thread_ids=thread_ids,
        account_ids=account_ids,
    )
    account_ids = {r.account_id for r in rows}
    known = _folder_rows(session, account_ids)
    plans: dict[int, _Plan] = {}
    for account_id in sorted(account_ids):
        account = session.get_one(Account, account_id)
        target = _target(session, account=account, data=data, known=known)
        plans[account_id] = _Plan(
            account_id=account_id,
            account=account.name,
            folders={f.id: _as_folder(f) for f in known.values() if f.account_id == account_id},
            target=_as_folder(target) if target else None,
        )
    for row in rows:
        where = plans[row.account_id]
        if row.folder_id is None or row.uid is None:
            where.loose.append(row)
        else:
            where.groups.setdefault(row.folder_id, []).append(row)
    return list(plans.values())


def _run_imap(client: IMAPClient, work: _Plan, action: ActionName, done: _Outcome) -> None:
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


def _store(session: Session, work: _Plan, action: ActionName, done: _Outcome) -> None:
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


def _carry_out(runtime: Runtime, work: _Plan, action: ActionName) -> _Outcome:
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

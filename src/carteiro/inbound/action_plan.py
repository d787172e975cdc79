"""Planning an inbox action: which stored messages it touches, folder by folder, and where to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.inbound import folders
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxThread
from carteiro.inbound.schemas import ActionCreate, ActionName

MOVING = ("archive", "move", "delete")
# A thread moved or deleted leaves our own Sent and Drafts copies where they are.
KEEP_ROLES = ("sent", "drafts")


@dataclass(frozen=True)
class PlannedRow:
    id: int
    thread_id: int
    account_id: int
    folder_id: int | None
    uid: int | None
    flagged: bool
    direction: str


@dataclass(frozen=True)
class FolderRef:
    id: int
    name: str
    role: str | None
    uidvalidity: int | None


@dataclass
class Plan:
    """What to do in one account: IMAP rows by folder, rows in no folder, the destination."""

    account_id: int
    account: str
    folders: dict[int, FolderRef]
    groups: dict[int, list[PlannedRow]] = field(default_factory=dict)
    loose: list[PlannedRow] = field(default_factory=list)
    target: FolderRef | None = None


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


def _rows(session: Session, where: Iterable[object]) -> list[tuple[PlannedRow, object]]:
    stmt = select(*_COLUMNS).where(*where).order_by(InboxMessage.date, InboxMessage.id)  # type: ignore[arg-type]
    return [
        (PlannedRow(r[0], r[1], r[2], r[3], r[4] if r[3] is not None else None, r[5], r[6]), r[7])
        for r in session.execute(stmt)
    ]


def _folder_rows(session: Session, account_ids: set[int]) -> dict[int, InboxFolder]:
    stmt = select(InboxFolder).where(InboxFolder.account_id.in_(account_ids))
    return {f.id: f for f in session.scalars(stmt)}


def _thread_choice(
    action: ActionName, rows: list[PlannedRow], roles: dict[int, str | None]
) -> list[PlannedRow]:
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
) -> list[PlannedRow]:
    chosen: dict[int, PlannedRow] = {}
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
        by_thread: dict[int, list[PlannedRow]] = defaultdict(list)
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


def _as_folder(row: InboxFolder) -> FolderRef:
    return FolderRef(row.id, row.name, row.role, row.uidvalidity)


def plan(
    session: Session,
    *,
    tenant_id: int,
    data: ActionCreate,
    message_ids: Sequence[int] = (),
    thread_ids: Sequence[int] = (),
    account_ids: Collection[int] | None = None,
) -> list[Plan]:
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
    plans: dict[int, Plan] = {}
    for account_id in sorted(account_ids):
        account = session.get_one(Account, account_id)
        target = _target(session, account=account, data=data, known=known)
        plans[account_id] = Plan(
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

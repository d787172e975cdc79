"""Folder discovery: LIST with SPECIAL-USE roles (RFC 6154), names decoded from modified UTF-7."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.errors import NotFound
from carteiro.inbound.models import InboxFolder
from carteiro.inbound.schemas import FolderPublic

ROLE_FLAGS = {
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\junk": "junk",
    "\\trash": "trash",
    "\\archive": "archive",
    "\\all": "all",
    "\\flagged": "flagged",
    "\\important": "important",
}
# Servers without SPECIAL-USE: common English and Portuguese names.
ROLE_NAMES = {
    "sent": "sent",
    "sent items": "sent",
    "sent messages": "sent",
    "sent mail": "sent",
    "enviados": "sent",
    "itens enviados": "sent",
    "mensagens enviadas": "sent",
    "drafts": "drafts",
    "rascunhos": "drafts",
    "junk": "junk",
    "spam": "junk",
    "junk e-mail": "junk",
    "lixo eletrônico": "junk",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "lixeira": "trash",
    "itens excluídos": "trash",
    "archive": "archive",
    "arquivo": "archive",
    "arquivados": "archive",
}
# Views that show messages of other folders again; syncing them would duplicate everything.
VIRTUAL_ROLES = frozenset({"all", "flagged", "important"})


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def role_for(name: str, flags: list[str], delimiter: str | None) -> str | None:
    if name.upper() == "INBOX":
        return "inbox"
    for flag in flags:
        role = ROLE_FLAGS.get(flag.lower())
        if role:
            return role
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    return ROLE_NAMES.get(leaf.strip().lower())


# (flags, delimiter, name), as IMAPClient.list_folders returns them.
_Listed = tuple[tuple[bytes | str, ...], bytes | str | None, bytes | str]


class _Lister(Protocol):
    def list_folders(self) -> list[_Listed]: ...


def listed(client: _Lister) -> list[tuple[str, list[str], str | None]]:
    """(decoded name, flags, delimiter) for every mailbox the server lists."""
    found = []
    for flags, delimiter, name in client.list_folders():
        text = _text(name)
        if text.upper() == "INBOX":
            text = "INBOX"
        found.append((text, [_text(f) for f in flags], _text(delimiter) if delimiter else None))
    return found


def sync_folders(
    session: Session,
    *,
    tenant_id: int,
    account_id: int,
    mailboxes: list[tuple[str, list[str], str | None]],
    only: tuple[str, ...] | None = None,
) -> list[InboxFolder]:
    """Creates or updates folder rows from a LIST; returns those to sync, INBOX first."""
    rows = {
        f.name: f
        for f in session.scalars(select(InboxFolder).where(InboxFolder.account_id == account_id))
    }
    seen = set()
    for name, flags, delimiter in mailboxes:
        seen.add(name)
        lowered = {f.lower() for f in flags}
        selectable = not ({"\\noselect", "\\nonexistent"} & lowered)
        role = role_for(name, flags, delimiter)
        folder = rows.get(name)
        if folder is None:
            folder = InboxFolder(
                tenant_id=tenant_id,
                account_id=account_id,
                name=name,
                last_uid=0,
                message_count=0,
                unread_count=0,
            )
            session.add(folder)
            rows[name] = folder
        folder.delimiter = delimiter
        folder.role = role
        folder.flags = flags
        folder.selectable = selectable
        folder.present = True
        wanted = name in only if only is not None else role not in VIRTUAL_ROLES
        folder.sync_enabled = selectable and wanted
    for name, folder in rows.items():
        if name not in seen:
            folder.present = False
            folder.sync_enabled = False
    session.flush()
    chosen = [f for f in rows.values() if f.sync_enabled]
    return sorted(chosen, key=lambda f: (f.role != "inbox", f.role is None, f.name))


def enabled(session: Session, *, account_id: int) -> list[InboxFolder]:
    """The folders the last full sync chose, INBOX first."""
    stmt = select(InboxFolder).where(
        InboxFolder.account_id == account_id, InboxFolder.sync_enabled.is_(True)
    )
    rows = list(session.scalars(stmt))
    return sorted(rows, key=lambda f: (f.role != "inbox", f.role is None, f.name))


def by_role(session: Session, *, account_id: int, role: str) -> InboxFolder | None:
    stmt = select(InboxFolder).where(
        InboxFolder.account_id == account_id,
        InboxFolder.role == role,
        InboxFolder.present.is_(True),
    )
    return session.scalars(stmt.order_by(InboxFolder.id)).first()


def list_folders(
    session: Session, *, tenant_id: int, account_ids: Collection[int] | None = None
) -> list[FolderPublic]:
    """The tenant's folders (only those of `account_ids`, if given)."""
    stmt = select(InboxFolder).where(
        InboxFolder.tenant_id == tenant_id, InboxFolder.present.is_(True)
    )
    if account_ids is not None:
        stmt = stmt.where(InboxFolder.account_id.in_(sorted(account_ids)))
    return [
        FolderPublic(
            id=f.id,
            account_id=f.account_id,
            name=f.name,
            role=f.role,
            sync_enabled=f.sync_enabled,
            message_count=f.message_count,
            unread_count=f.unread_count,
            uidvalidity=f.uidvalidity,
            last_uid=f.last_uid,
            last_sync_at=f.last_sync_at,
            last_error=f.last_error,
        )
        for f in session.scalars(stmt.order_by(InboxFolder.account_id, InboxFolder.name))
    ]


def account_id(session: Session, *, tenant_id: int, ref: str | int) -> int:
    """The id of the tenant's account named or numbered `ref` (else not found)."""
    return accounts.get_or_raise(session, tenant_id=tenant_id, ref=ref).id


def require(session: Session, *, tenant_id: int, folder: str) -> None:
    """Refuses a folder name or role that no account of the tenant has, naming those it has.

    Filtering by a folder that does not exist would answer with an empty page, which an
    agent reads as "no mail" rather than "wrong name"."""
    wanted = folder.strip()
    rows = session.execute(
        select(InboxFolder.name, InboxFolder.role).where(
            InboxFolder.tenant_id == tenant_id, InboxFolder.present.is_(True)
        )
    ).all()
    if any(name == wanted or role == wanted.lower() for name, role in rows):
        return
    known = sorted({role for _, role in rows if role} | {name for name, _ in rows})
    listed = ", ".join(known[:30]) if known else "none: sync an account first"
    raise NotFound(
        f"no folder named '{wanted}' (known: {listed}); see list_folders", field="folder"
    )

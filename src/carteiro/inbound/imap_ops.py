"""IMAP commands behind the inbox actions: STORE flags, MOVE (or COPY + expunge), EXPUNGE."""

from __future__ import annotations

import re

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from carteiro.errors import Conflict
from carteiro.mail.imap import ImapError

_COPYUID = re.compile(rb"^\s*(\d+)\s+([\d:,]+)\s+([\d:,]+)")


def _uid_set(text: bytes) -> list[int]:
    """The UIDs of an RFC 3501 sequence set such as `3:5,9`, in order."""
    found: list[int] = []
    for part in text.split(b","):
        start, _, end = part.partition(b":")
        low, high = int(start), int(end or start)
        step = 1 if high >= low else -1
        found.extend(range(low, high + step, step))
    return found


def copyuid(value: bytes | None) -> tuple[int, dict[int, int]] | None:
    """(destination UIDVALIDITY, source UID → destination UID) from a COPYUID code (RFC 4315)."""
    match = _COPYUID.match(value or b"")
    if not match:
        return None
    sources, targets = _uid_set(match.group(2)), _uid_set(match.group(3))
    if len(sources) != len(targets):
        return None
    return int(match.group(1)), dict(zip(sources, targets, strict=True))


def _last_copyuid(client: IMAPClient) -> bytes | None:
    # imaplib files every [COPYUID …] response code, tagged or untagged, under its name.
    found = client._imap.untagged_responses.pop("COPYUID", None)
    if not found:
        return None
    last = found[-1]
    return last if isinstance(last, bytes) else None


def select(client: IMAPClient, folder: str, *, uidvalidity: int | None) -> None:
    """Selects `folder` for writing; refuses when its UIDs are not the ones we stored."""
    try:
        info = client.select_folder(folder, readonly=False)
    except (IMAPClientError, OSError):
        raise ImapError(f"the IMAP server did not open the folder '{folder}'") from None
    current = int(info.get(b"UIDVALIDITY") or 0)
    if uidvalidity is not None and current != uidvalidity:
        raise Conflict(
            f"the folder '{folder}' changed on the server since the last sync: "
            "sync the account, then try again",
            field="folder",
        )


def set_flag(client: IMAPClient, uids: list[int], flag: bytes, *, on: bool) -> None:
    try:
        if on:
            client.add_flags(uids, [flag], silent=True)
        else:
            client.remove_flags(uids, [flag], silent=True)
    except (IMAPClientError, OSError):
        raise ImapError("the IMAP server refused to change the messages' flags") from None


def move(client: IMAPClient, uids: list[int], target: str) -> tuple[int, dict[int, int]] | None:
    """Moves `uids` from the selected folder to `target`; the new UIDs when the server says.

    MOVE (RFC 6851) when offered, else COPY, \\Deleted and UID EXPUNGE (plain EXPUNGE without
    UIDPLUS, which also removes other messages already marked \\Deleted, as any client would)."""
    client._imap.untagged_responses.pop("COPYUID", None)
    try:
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            mapping = _last_copyuid(client)
            expunge(client, uids)
            return copyuid(mapping)
    except (IMAPClientError, OSError):
        raise ImapError(f"the IMAP server refused to move the messages to '{target}'") from None
    return copyuid(_last_copyuid(client))


def expunge(client: IMAPClient, uids: list[int]) -> None:
    """Removes messages for good: marks them \\Deleted, then expunges them."""
    try:
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()
    except (IMAPClientError, OSError):
        raise ImapError("the IMAP server refused to delete the messages") from None

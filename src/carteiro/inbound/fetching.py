"""Downloading messages: sizes first, then bodies in bounded groups, parsed on arrival."""

from __future__ import annotations

from datetime import UTC, datetime

from imapclient import IMAPClient

from carteiro.inbound.ingest import Fetched
from carteiro.inbound.parse import parse_message

# A page's bodies are fetched in groups of at most this many bytes.
FETCH_BYTES = 16 * 1024 * 1024


def text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def download(client: IMAPClient, uids: list[int], *, max_bytes: int) -> list[Fetched]:
    """Flags, dates and bodies of `uids`; messages over `max_bytes` come as headers only."""
    meta = client.fetch(uids, ["FLAGS", "INTERNALDATE", "RFC822.SIZE"])
    limit = max_bytes
    small = [u for u in uids if u in meta and int(meta[u].get(b"RFC822.SIZE") or 0) <= limit]
    large = [u for u in uids if u in meta and u not in set(small)]
    bodies: dict[int, bytes] = {}
    group: list[int] = []
    size = 0
    for uid in small:
        group.append(uid)
        size += int(meta[uid].get(b"RFC822.SIZE") or 0)
        if size >= FETCH_BYTES:
            bodies.update(_bodies(client, group, b"BODY[]"))
            group, size = [], 0
    if group:
        bodies.update(_bodies(client, group, b"BODY[]"))
    headers = _bodies(client, large, b"BODY[HEADER]") if large else {}
    items = []
    for uid in uids:
        if uid not in meta:
            continue  # expunged between SEARCH and FETCH
        raw = bodies.get(uid) if uid in bodies else headers.get(uid, b"")
        items.append(
            Fetched(
                uid=uid,
                flags=[text(f) for f in meta[uid].get(b"FLAGS", ())],
                internal_date=aware(meta[uid].get(b"INTERNALDATE")),
                size=int(meta[uid].get(b"RFC822.SIZE") or len(raw or b"")),
                raw=raw or b"",
                parsed=parse_message(raw or b""),
                truncated=uid not in bodies,
            )
        )
    return items


def _bodies(client: IMAPClient, uids: list[int], key: bytes) -> dict[int, bytes]:
    item = "BODY.PEEK[]" if key == b"BODY[]" else "BODY.PEEK[HEADER]"
    data = client.fetch(uids, [item])
    return {uid: bytes(d.get(key) or b"") for uid, d in data.items()}

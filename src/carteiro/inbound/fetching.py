"""Downloading messages (sizes first, bodies in bounded groups) and parsing them, in a pool of
processes when there is a large backlog."""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime

from imapclient import IMAPClient

from carteiro.inbound.ingest import Fetched
from carteiro.inbound.parse import parse_message
from carteiro.inbound.reports import detect

log = logging.getLogger("carteiro.inbox")

# A page's bodies are fetched in groups of at most this many bytes.
FETCH_BYTES = 16 * 1024 * 1024
# Starting processes costs a fraction of a second: only worth it for a real backlog.
POOL_THRESHOLD = 1000


@dataclass
class RawMessage:
    uid: int
    flags: list[str]
    internal_date: datetime | None
    size: int
    raw: bytes
    truncated: bool


def text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def download(client: IMAPClient, uids: list[int], *, max_bytes: int) -> list[RawMessage]:
    """Flags, dates and bodies of `uids`; messages over `max_bytes` come as headers only."""
    meta = client.fetch(uids, ["FLAGS", "INTERNALDATE", "RFC822.SIZE"])
    small = [u for u in uids if u in meta and int(meta[u].get(b"RFC822.SIZE") or 0) <= max_bytes]
    chosen = set(small)
    large = [u for u in uids if u in meta and u not in chosen]
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
    found = []
    for uid in uids:
        if uid not in meta:
            continue  # expunged between SEARCH and FETCH
        raw = bodies[uid] if uid in bodies else headers.get(uid, b"")
        found.append(
            RawMessage(
                uid=uid,
                flags=[text(f) for f in meta[uid].get(b"FLAGS", ())],
                internal_date=aware(meta[uid].get(b"INTERNALDATE")),
                size=int(meta[uid].get(b"RFC822.SIZE") or len(raw)),
                raw=raw,
                truncated=uid not in bodies,
            )
        )
    return found


def _bodies(client: IMAPClient, uids: list[int], key: bytes) -> dict[int, bytes]:
    item = "BODY.PEEK[]" if key == b"BODY[]" else "BODY.PEEK[HEADER]"
    data = client.fetch(uids, [item])
    return {uid: bytes(d.get(key) or b"") for uid, d in data.items()}


def parse_all(messages: list[RawMessage]) -> list[Fetched]:
    """Parses and classifies (bounce, complaint) each message; runs in a worker process too,
    so the parsed tree is dropped and only plain data travels back."""
    done = []
    for m in messages:
        parsed = parse_message(m.raw)
        parsed.report = detect(parsed)
        parsed.report_checked = True
        parsed.message = None
        done.append(
            Fetched(
                uid=m.uid,
                flags=m.flags,
                internal_date=m.internal_date,
                size=m.size,
                raw=m.raw,
                parsed=parsed,
                truncated=m.truncated,
            )
        )
    return done


class Parser:
    """Parses pages in-process, or in worker processes while the caller stores earlier pages."""

    def __init__(self, *, backlog: int) -> None:
        self._pool: ProcessPoolExecutor | None = None
        workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        if backlog >= POOL_THRESHOLD:
            # Spawned, not forked: the worker process runs threads (IDLE, the API).
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def submit(self, messages: list[RawMessage]) -> Future[list[Fetched]]:
        if self._pool is not None:
            try:
                return self._pool.submit(parse_all, messages)
            except (BrokenProcessPool, RuntimeError) as exc:
                log.warning("parsing in-process: the worker pool failed (%s)", exc)
                self.close()
        done: Future[list[Fetched]] = Future()
        done.set_result(parse_all(messages))
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

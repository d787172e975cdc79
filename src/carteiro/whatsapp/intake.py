"""Verified webhook bodies stored a group at a time: one commit for all that arrived meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert
from starlette.concurrency import run_in_threadpool

from carteiro.db.engine import Database
from carteiro.db.types import utcnow
from carteiro.whatsapp.models import WhatsAppWebhook

# Bodies in one INSERT at most (a burst beyond it takes several commits in a row).
MAX_GROUP = 500


class Intake:
    """Each caller returns once its body is committed, as before, but the bodies that arrive
    while one group commits go together in the next: one transaction per webhook (the first
    version) held SQLite's single writer once per request, about 300 requests a second."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def store(self, *, tenant_id: int, number_id: int, provider: str, raw: bytes) -> None:
        """Returns when the body is committed; raises what its group's commit raised."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): nothing of the old one is alive
            self._loop, self._waiting, self._writer = loop, [], None
        row = {
            "tenant_id": tenant_id,
            "number_id": number_id,
            "provider": provider,
            "raw": raw,
            "received_at": utcnow(),
        }
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            try:
                await run_in_threadpool(self._insert, [row for row, _ in group])
            except Exception as exc:
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.db.session() as session:
            session.execute(insert(WhatsAppWebhook), rows)

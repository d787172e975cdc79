"""Writes hits after the reply is sent, all the hits that arrived meanwhile in one transaction."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict

from starlette.concurrency import run_in_threadpool

from carteiro.db.engine import Database
from carteiro.tracking import service
from carteiro.tracking.service import HitIn, Target

log = logging.getLogger("carteiro.tracking")
MAX_CACHED = 100_000


class Recorder:
    """One per database, used from the event loop only (no locks).

    `write` queues a hit and returns once it is stored: one caller at a time writes every
    queued hit in a single transaction on a worker thread (a group commit), the others wait
    for the batch that holds theirs. Under load the database sees a few large inserts instead
    of a commit per hit, and a graceful shutdown (which waits for requests to finish) loses
    none."""

    def __init__(self) -> None:
        self._targets: OrderedDict[str, Target] = OrderedDict()
        self._pending: list[HitIn] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: asyncio.Future[None] | None = None
        self._busy = False

    async def target(self, db: Database, token: str) -> Target | None:
        """The token's links; found ones are cached (they never change once registered)."""
        found = self._targets.get(token)
        if found is not None:
            return found
        found = await run_in_threadpool(_lookup, db, token)
        if found is not None:
            self._targets[token] = found
            if len(self._targets) > MAX_CACHED:
                self._targets.popitem(last=False)
        return found

    async def write(self, db: Database, hit: HitIn) -> None:
        """Records `hit`; a failure is logged, never raised (the visitor already has a reply)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (a test client): nothing of the old one's is awaitable here.
            self._loop, self._next, self._busy, self._pending = loop, None, False, []
        self._pending.append(hit)
        if self._busy:
            if self._next is None:
                self._next = loop.create_future()
            await asyncio.shield(self._next)
            return
        self._busy = True
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                done, self._next = self._next, None
                try:
                    await run_in_threadpool(_record, db, batch)
                finally:
                    if done is not None and not done.done():
                        done.set_result(None)
        finally:
            self._busy = False
            if self._next is not None and not self._next.done():
                self._next.set_result(None)


def _lookup(db: Database, token: str) -> Target | None:
    with db.reader() as session:
        return service.target(session, token=token)


def _record(db: Database, batch: list[HitIn]) -> None:
    try:
        with db.session() as session:
            service.record(session, batch)
    except Exception:
        log.warning("could not record %d tracking hits", len(batch), exc_info=True)


_recorders: weakref.WeakKeyDictionary[Database, Recorder] = weakref.WeakKeyDictionary()


def for_database(db: Database) -> Recorder:
    """The recorder of `db` (hits of one database are grouped together)."""
    found = _recorders.get(db)
    if found is None:
        found = _recorders[db] = Recorder()
    return found

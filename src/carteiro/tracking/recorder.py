"""Writes hits after the response is sent, many per transaction when they arrive together."""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict

from carteiro.db.engine import Database
from carteiro.tracking import service
from carteiro.tracking.service import HitIn, Target

log = logging.getLogger("carteiro.tracking")
MAX_CACHED = 100_000


class Recorder:
    """One per database. `write` is called from worker threads; whichever thread holds the
    lock writes every hit queued so far in one transaction (a group commit), so under load
    the database sees a few large inserts instead of one commit per hit."""

    def __init__(self) -> None:
        self._pending: list[HitIn] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._targets: OrderedDict[str, Target] = OrderedDict()

    def target(self, db: Database, token: str) -> Target | None:
        """The token's links; found ones are cached (they never change once registered)."""
        with self._queue_lock:
            found = self._targets.get(token)
        if found is not None:
            return found
        with db.session() as session:
            found = service.target(session, token=token)
        if found is not None:
            with self._queue_lock:
                self._targets[token] = found
                if len(self._targets) > MAX_CACHED:
                    self._targets.popitem(last=False)
        return found

    def write(self, db: Database, hit: HitIn) -> None:
        """Records `hit`; a failure is logged, never raised (the visitor already has a reply)."""
        with self._queue_lock:
            self._pending.append(hit)
        with self._write_lock:
            with self._queue_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return  # another thread wrote it with its own
            try:
                with db.session() as session:
                    service.record(session, batch)
            except Exception:
                log.warning("could not record %d tracking hits", len(batch), exc_info=True)


_recorders: weakref.WeakKeyDictionary[Database, Recorder] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def for_database(db: Database) -> Recorder:
    """The recorder of `db` (hits of one database are grouped together)."""
    with _lock:
        found = _recorders.get(db)
        if found is None:
            found = _recorders[db] = Recorder()
        return found

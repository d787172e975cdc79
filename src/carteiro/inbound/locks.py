"""One worker per account: PostgreSQL advisory locks, or expiring lease rows on SQLite."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Connection, delete, or_, text, update
from sqlalchemy.exc import IntegrityError

from carteiro.db.engine import Database
from carteiro.db.leases import lock_id
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.inbound.models import InboxLease

LEASE_SECONDS = 60.0


def owner_lock(account_id: int) -> str:
    """Held by the worker that keeps the account's IDLE connection."""
    return f"inbox:owner:{account_id}"


def sync_lock(account_id: int) -> str:
    """Held while messages of the account are being written."""
    return f"inbox:sync:{account_id}"


class Locks(Protocol):
    def try_acquire(self, name: str) -> bool: ...

    def release(self, name: str) -> None: ...

    def renew(self) -> set[str]:
        """Extends every held lock; returns the names that were lost."""
        ...

    def close(self) -> None: ...


class AdvisoryLocks:
    """Session-level advisory locks on one dedicated connection: they vanish with it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self._held: set[str] = set()

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._held.clear()
        return self._conn

    def try_acquire(self, name: str) -> bool:
        with self._mutex:
            if name in self._held:
                return True
            got = (
                self._connection()
                .execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id(name)})
                .scalar()
            )
            if got:
                self._held.add(name)
            return bool(got)

    def release(self, name: str) -> None:
        with self._mutex:
            if name in self._held and self._conn is not None:
                self._held.discard(name)
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id(name)})

    def renew(self) -> set[str]:
        with self._mutex:
            if not self._held or self._conn is None:
                return set()
            try:
                self._conn.execute(text("SELECT 1"))
                return set()
            except Exception:
                # The connection died and took every lock with it.
                lost = set(self._held)
                self._held.clear()
                self._conn = None
                return lost

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                try:
                    # Closing would return the connection to the pool with its locks still
                    # held; dropping it ends the database session and every lock with it.
                    self._conn.invalidate()
                    self._conn.close()
                finally:
                    self._conn = None
                    self._held.clear()


class LeaseLocks:
    """Rows in inbox_leases that expire unless renewed; a crashed owner loses them in time."""

    def __init__(self, db: Database, owner: str, *, seconds: float = LEASE_SECONDS) -> None:
        self._db = db
        self._owner = owner
        self._seconds = seconds
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def try_acquire(self, name: str) -> bool:
        with self._mutex:
            now = utcnow()
            until = now + timedelta(seconds=self._seconds)
            with self._db.session() as session:
                taken = dml(
                    session,
                    update(InboxLease)
                    .where(
                        InboxLease.name == name,
                        or_(InboxLease.expires_at < now, InboxLease.owner == self._owner),
                    )
                    .values(owner=self._owner, expires_at=until),
                ).rowcount
                if not taken:
                    try:
                        with session.begin_nested():
                            session.add(InboxLease(name=name, owner=self._owner, expires_at=until))
                            session.flush()
                        taken = 1
                    except IntegrityError:
                        taken = 0
            if taken:
                self._held.add(name)
            return bool(taken)

    def release(self, name: str) -> None:
        with self._mutex:
            self._held.discard(name)
            with self._db.session() as session:
                session.execute(
                    delete(InboxLease).where(
                        InboxLease.name == name, InboxLease.owner == self._owner
                    )
                )

    def renew(self) -> set[str]:
        with self._mutex:
            lost = set()
            until = utcnow() + timedelta(seconds=self._seconds)
            with self._db.session() as session:
                for name in sorted(self._held):
                    kept = dml(
                        session,
                        update(InboxLease)
                        .where(InboxLease.name == name, InboxLease.owner == self._owner)
                        .values(expires_at=until),
                    ).rowcount
                    if not kept:
                        lost.add(name)
            self._held -= lost
            return lost

    def close(self) -> None:
        for name in list(self._held):
            self.release(name)


def make_locks(db: Database, owner: str) -> Locks:
    return AdvisoryLocks(db) if db.dialect == "postgresql" else LeaseLocks(db, owner)


def acquire_waiting(locks: Locks, name: str, *, timeout: float, interval: float = 0.1) -> bool:
    """Tries until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if locks.try_acquire(name):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

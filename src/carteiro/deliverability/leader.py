"""Singleton jobs across processes: a PostgreSQL advisory lock, or a lease row on SQLite."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.deliverability.models import SchedulerLease


def lock_id(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name."""
    digest = hashlib.sha256(f"carteiro:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_lead(session: Session, *, name: str, owner: str, ttl: float) -> bool:
    """Whether this transaction may run job `name` now.

    PostgreSQL: a transaction-level advisory lock, released at commit; others skip meanwhile.
    SQLite: a lease row that `owner` holds (and renews) until it lapses for `ttl` seconds."""
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock_id(name)))))
    now = utcnow()
    until = now + timedelta(seconds=ttl)
    session.execute(
        sqlite.insert(SchedulerLease)
        .values(name=name, owner=None, lease_until=None, state=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = session.execute(
        update(SchedulerLease)
        .where(
            SchedulerLease.name == name,
            or_(
                SchedulerLease.owner.is_(None),
                SchedulerLease.owner == owner,
                SchedulerLease.lease_until < now,
            ),
        )
        .values(owner=owner, lease_until=until, updated_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    return taken == 1


def release(session: Session, *, name: str, owner: str) -> None:
    """Gives a SQLite lease up at shutdown so another process need not wait for it to lapse."""
    if session.get_bind().dialect.name == "postgresql":
        return
    session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.owner == owner)
        .values(owner=None, lease_until=None),
        execution_options={"synchronize_session": False},
    )

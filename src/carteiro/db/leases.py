"""Singleton jobs across processes: worker ids, PostgreSQL advisory locks, SQLite lease rows."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from carteiro.db.base import Base
from carteiro.db.results import dml
from carteiro.db.types import JSONType, UTCDateTime, utcnow


class SchedulerLease(Base):
    """A named singleton job: who runs it until when, and its progress (cursors)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def worker_id() -> str:
    """Names this process for leases: host, pid and a random part, so a restart is a new owner."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
    taken = dml(
        session,
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

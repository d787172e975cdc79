"""SMTP connection slots: each account's `max_connections`, shared exactly by every worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from carteiro.accounts.models import ConnectionLease
from carteiro.db.results import dml


@dataclass
class Slots:
    """One account's slots as seen in a claim: how many are held and which are this worker's."""

    limit: int
    taken: set[int] = field(default_factory=set)
    mine: set[int] = field(default_factory=set)

    @property
    def free(self) -> int:
        return max(0, self.limit - len(self.taken))


def held(
    session: Session, *, limits: dict[int, int], worker_id: str, now: datetime
) -> tuple[dict[int, Slots], dict[int, int]]:
    """Unexpired slots of the given accounts (`limits`: account id -> max_connections), and
    how many slots `worker_id` holds per account, these or any other."""
    out = {account_id: Slots(limit) for account_id, limit in limits.items()}
    mine: dict[int, int] = {}
    wanted = ConnectionLease.worker == worker_id
    if limits:
        wanted = or_(wanted, ConnectionLease.account_id.in_(list(limits)))
    rows = session.execute(
        select(ConnectionLease.account_id, ConnectionLease.slot, ConnectionLease.worker).where(
            ConnectionLease.lease_until > now, wanted
        )
    )
    for account_id, slot, worker in rows:
        if worker == worker_id:
            mine[account_id] = mine.get(account_id, 0) + 1
        slots = out.get(account_id)
        if slots is None:
            continue
        slots.taken.add(slot)
        if worker == worker_id:
            slots.mine.add(slot)
    return out, mine


def counts(session: Session, *, account_ids: list[int], now: datetime) -> dict[int, int]:
    """Connection slots in use per account, by any worker."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(ConnectionLease.account_id, func.count())
        .where(ConnectionLease.account_id.in_(account_ids), ConnectionLease.lease_until > now)
        .group_by(ConnectionLease.account_id)
    )
    return dict(rows.all())


def grant(
    session: Session,
    *,
    worker_id: str,
    wanted: dict[int, int],
    slots: dict[int, Slots],
    now: datetime,
    lease_seconds: float,
) -> None:
    """Gives `worker_id` the lowest free slot numbers; the caller holds the accounts' locks
    (PostgreSQL row locks, SQLite's single writer), so two workers never pick one slot."""
    wanted = {a: n for a, n in wanted.items() if n > 0}
    if not wanted:
        return
    # Expired slots are free: drop their rows so the numbers can be reused.
    session.execute(
        delete(ConnectionLease).where(
            ConnectionLease.account_id.in_(list(wanted)), ConnectionLease.lease_until <= now
        )
    )
    until = now + timedelta(seconds=lease_seconds)
    rows = []
    for account_id, n in wanted.items():
        s = slots[account_id]
        free = (i for i in range(s.limit) if i not in s.taken)
        for number in [next(free) for _ in range(min(n, s.free))]:
            s.taken.add(number)
            s.mine.add(number)
            rows.append(
                {
                    "account_id": account_id,
                    "slot": number,
                    "worker": worker_id,
                    "lease_until": until,
                }
            )
    if rows:
        session.execute(insert(ConnectionLease), rows)


def renew(session: Session, *, worker_id: str, now: datetime, lease_seconds: float) -> int:
    return dml(
        session,
        update(ConnectionLease)
        .where(ConnectionLease.worker == worker_id)
        .values(lease_until=now + timedelta(seconds=lease_seconds)),
        execution_options={"synchronize_session": False},
    ).rowcount


def release(session: Session, *, worker_id: str, account_ids: list[int] | None = None) -> int:
    """Gives this worker's slots back: all of them, or those of some accounts."""
    stmt = delete(ConnectionLease).where(ConnectionLease.worker == worker_id)
    if account_ids is not None:
        if not account_ids:
            return 0
        stmt = stmt.where(ConnectionLease.account_id.in_(account_ids))
    return dml(session, stmt).rowcount

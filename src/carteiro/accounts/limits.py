"""Per-account budgets: fixed UTC windows (minute, hour, day) and warm-up caps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account, AccountUsage
from carteiro.db.base import table_of
from carteiro.errors import InvalidInput

WINDOWS = ("minute", "hour", "day")


def window_starts(now: datetime) -> dict[str, datetime]:
    return {
        "minute": now.replace(second=0, microsecond=0),
        "hour": now.replace(minute=0, second=0, microsecond=0),
        "day": now.replace(hour=0, minute=0, second=0, microsecond=0),
    }


def validate_warmup(plan: dict[str, Any] | None, *, today: date) -> dict[str, Any] | None:
    """Checks a warm-up plan and stamps its first day.

    Either `{"start": 50, "factor": 1.5, "target": 2000}` (the cap grows by `factor` each day)
    or `{"schedule": [50, 100, 200, 500], "target": 2000}` (one cap per day, then the target)."""
    if plan is None:
        return None
    plan = dict(plan)
    target = plan.get("target")
    if not isinstance(target, int) or target < 1:
        raise InvalidInput("warmup.target must be a positive integer", field="warmup.target")
    if "schedule" in plan:
        schedule = plan["schedule"]
        if not (
            isinstance(schedule, list)
            and schedule
            and all(isinstance(v, int) and v >= 1 for v in schedule)
        ):
            raise InvalidInput(
                "warmup.schedule must be a list of positive daily caps", field="warmup.schedule"
            )
    else:
        start, factor = plan.get("start"), plan.get("factor", 2)
        if not isinstance(start, int) or start < 1:
            raise InvalidInput("warmup.start must be a positive integer", field="warmup.start")
        if not isinstance(factor, int | float) or factor <= 1:
            raise InvalidInput("warmup.factor must be greater than 1", field="warmup.factor")
        plan["factor"] = factor
    started = plan.get("started_on") or today.isoformat()
    try:
        date.fromisoformat(str(started))
    except ValueError:
        raise InvalidInput(
            "warmup.started_on must be a date (YYYY-MM-DD)", field="warmup.started_on"
        ) from None
    plan["started_on"] = str(started)
    return plan


@dataclass(frozen=True)
class WarmupStatus:
    day: int
    cap: int
    target: int
    complete: bool


def warmup_status(plan: dict[str, Any] | None, *, today: date) -> WarmupStatus | None:
    if not plan:
        return None
    target = int(plan["target"])
    day = max(1, (today - date.fromisoformat(plan["started_on"])).days + 1)
    if "schedule" in plan:
        schedule = plan["schedule"]
        cap = schedule[day - 1] if day <= len(schedule) else target
    else:
        # Compute in log space so day 400 of a 2x plan does not overflow.
        exponent = (day - 1) * math.log(plan["factor"]) + math.log(plan["start"])
        cap = target if exponent >= math.log(target) else int(math.exp(exponent))
    cap = min(cap, target)
    return WarmupStatus(day=day, cap=cap, target=target, complete=cap >= target)


@dataclass(frozen=True)
class Budget:
    """What an account may still take in each window now; None means no limit of that kind."""

    minute: int | None
    hour: int | None
    day: int | None
    used: dict[str, int]

    @property
    def remaining(self) -> int | None:
        values = [v for v in (self.minute, self.hour, self.day) if v is not None]
        return max(0, min(values)) if values else None


def day_limit(account: Account, *, today: date) -> int | None:
    warm = warmup_status(account.warmup, today=today)
    limits = [v for v in (account.limit_per_day, warm.cap if warm else None) if v is not None]
    return min(limits) if limits else None


def usage(session: Session, *, account_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    """Current-window counts per account (zero where nothing was claimed yet)."""
    starts = window_starts(now)
    out: dict[int, dict[str, int]] = {a: dict.fromkeys(WINDOWS, 0) for a in account_ids}
    if not account_ids:
        return out
    current = or_(
        *[and_(AccountUsage.window == w, AccountUsage.window_start == starts[w]) for w in WINDOWS]
    )
    rows = session.execute(
        select(AccountUsage.account_id, AccountUsage.window, AccountUsage.count).where(
            AccountUsage.account_id.in_(account_ids), current
        )
    )
    for account_id, window, count in rows:
        out[account_id][window] = count
    return out


def budget_of(account: Account, used: dict[str, int], *, now: datetime) -> Budget:
    def left(limit: int | None, window: str) -> int | None:
        return None if limit is None else max(0, limit - used[window])

    return Budget(
        minute=left(account.limit_per_minute, "minute"),
        hour=left(account.limit_per_hour, "hour"),
        day=left(day_limit(account, today=now.date()), "day"),
        used=used,
    )


def take(session: Session, *, taken: dict[int, int], now: datetime) -> None:
    """Adds claimed counts to every window of each account (an upsert per window)."""
    if not taken:
        return
    starts = window_starts(now)
    rows = [
        {"account_id": a, "window": w, "window_start": starts[w], "count": n}
        for a, n in taken.items()
        for w in WINDOWS
    ]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(AccountUsage).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "window", "window_start"],
        set_={"count": AccountUsage.count + stmt.excluded.count},
    )
    session.execute(stmt)


def prune(session: Session, *, now: datetime) -> None:
    """Drops windows that can no longer matter (older than two days)."""
    from datetime import timedelta

    session.execute(
        table_of(AccountUsage).delete().where(AccountUsage.window_start < now - timedelta(days=2))
    )

"""The responder's monitoring numbers, as the deployment guide's queries define them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.responder.models import STATUSES, ResponderJob
from carteiro.responder.schemas import (
    ErrorCount,
    HourCount,
    JobStatus,
    Percentiles,
    ResponderStats,
    StatusCount,
)

WINDOW_HOURS = 24


def percentile(ordered: list[int], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def stats(session: Session, *, tenant_id: int, now: datetime | None = None) -> ResponderStats:
    now = now or utcnow()
    since = now - timedelta(hours=WINDOW_HOURS)
    mine = ResponderJob.tenant_id == tenant_id
    by_status = {
        status: (count, avg)
        for status, count, avg in session.execute(
            select(
                ResponderJob.status,
                func.count(ResponderJob.id),
                func.avg(ResponderJob.processing_time_ms),
            )
            .where(mine)
            .group_by(ResponderJob.status)
        )
    }
    statuses = [
        StatusCount(
            status=cast(JobStatus, s),
            count=by_status.get(s, (0, None))[0],
            avg_processing_time_ms=float(avg) if (avg := by_status.get(s, (0, None))[1]) else None,
        )
        for s in STATUSES
    ]
    finished = session.execute(
        select(ResponderJob.completed_at, ResponderJob.status, ResponderJob.processing_time_ms)
        .where(mine, ResponderJob.completed_at >= since)
        .order_by(ResponderJob.completed_at)
    )
    hours: dict[datetime, list[int]] = {}
    times: list[int] = []
    for completed_at, status, elapsed in finished:
        if completed_at is None:
            continue
        bucket = hours.setdefault(_hour(completed_at), [0, 0])
        bucket[0] += 1
        if status == "completed":
            bucket[1] += 1
            if elapsed is not None:
                times.append(elapsed)
    times.sort()
    errors = [
        ErrorCount(error_type=kind, count=count)
        for kind, count in session.execute(
            select(ResponderJob.error_type, func.count(ResponderJob.id))
            .where(mine, ResponderJob.error_type.is_not(None))
            .group_by(ResponderJob.error_type)
            .order_by(func.count(ResponderJob.id).desc())
        )
        if kind is not None
    ]
    return ResponderStats(
        statuses=statuses,
        per_hour=[HourCount(hour=h, processed=p, completed=c) for h, (p, c) in hours.items()],
        errors=errors,
        processing_time=Percentiles(
            count=len(times),
            p50_ms=percentile(times, 0.50),
            p95_ms=percentile(times, 0.95),
            p99_ms=percentile(times, 0.99),
        ),
        window_hours=WINDOW_HOURS,
    )

"""What the outbound side did lately, per hour, and the alerts the dashboard raises on it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.outbound.models import Email, EmailEvent

SENT = ("sent",)
FAILED = ("failed", "dead")
BOUNCED = ("bounce_hard", "bounce_soft")
# The alerts: more failures than this in the last hour, any message gone dead in the last
# hour, a bounce rate above this over the last 24 hours.
FAILURES_PER_HOUR_ALERT = 10
BOUNCE_RATE_ALERT = 0.05


@dataclass(frozen=True)
class HourCounts:
    start: datetime
    sent: int
    failed: int
    bounced: int


@dataclass(frozen=True)
class Alert:
    code: str  # failures | dead_letters | bounce_rate
    values: dict[str, Any]


@dataclass(frozen=True)
class Activity:
    hours: list[HourCounts]
    failed_last_hour: int
    dead_last_hour: int
    dead_previous_hour: int
    alerts: list[Alert] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(h.sent for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)

    @property
    def bounced(self) -> int:
        return sum(h.bounced for h in self.hours)

    @property
    def bounce_rate(self) -> float | None:
        return self.bounced / self.sent if self.sent else None


def _count(*conditions: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


def hourly(
    session: Session,
    *,
    tenant_id: int,
    account_ids: Collection[int] | None = None,
    now: datetime | None = None,
    hours: int = 24,
) -> Activity:
    """Sent, failed (failed or dead) and bounced messages per hour for the last `hours` hours
    (the last bucket is the current hour), counted from the events, in one pass.

    `account_ids` limits it to messages of those accounts (None: every account)."""
    now = now or utcnow()
    current = now.replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=hours - 1 - i) for i in range(hours)]
    edges = [*starts, current + timedelta(hours=1)]
    since = min(starts[0], now - timedelta(hours=2))
    at = EmailEvent.created_at
    kind = EmailEvent.type
    columns = []
    for group in (SENT, FAILED, BOUNCED):
        columns += [
            _count(kind.in_(group), at >= edges[i], at < edges[i + 1]) for i in range(hours)
        ]
    hour_ago, two_hours_ago = now - timedelta(hours=1), now - timedelta(hours=2)
    columns += [
        _count(kind.in_(FAILED), at >= hour_ago),
        _count(kind == "dead", at >= hour_ago),
        _count(kind == "dead", at >= two_hours_ago, at < hour_ago),
    ]
    stmt = select(*columns).where(
        EmailEvent.tenant_id == tenant_id,
        at >= since,
        kind.in_((*SENT, *FAILED, *BOUNCED)),
    )
    if account_ids is not None:
        stmt = stmt.join(Email, Email.id == EmailEvent.email_id).where(
            Email.account_id.in_(list(account_ids))
        )
    row = [int(v or 0) for v in session.execute(stmt).one()]
    sent, failed, bounced = row[:hours], row[hours : 2 * hours], row[2 * hours : 3 * hours]
    counts = [HourCounts(starts[i], sent[i], failed[i], bounced[i]) for i in range(hours)]
    failed_hour, dead_hour, dead_before = row[3 * hours :]
    activity = Activity(counts, failed_hour, dead_hour, dead_before)
    return Activity(counts, failed_hour, dead_hour, dead_before, alerts=alerts_for(activity))


def alerts_for(activity: Activity) -> list[Alert]:
    found = []
    if activity.failed_last_hour > FAILURES_PER_HOUR_ALERT:
        found.append(
            Alert(
                "failures",
                {"count": activity.failed_last_hour, "threshold": FAILURES_PER_HOUR_ALERT},
            )
        )
    if activity.dead_last_hour > 0:
        found.append(
            Alert(
                "dead_letters",
                {"count": activity.dead_last_hour, "previous": activity.dead_previous_hour},
            )
        )
    rate = activity.bounce_rate
    if rate is not None and rate > BOUNCE_RATE_ALERT:
        found.append(
            Alert(
                "bounce_rate",
                {
                    "rate": rate,
                    "bounced": activity.bounced,
                    "sent": activity.sent,
                    "threshold": BOUNCE_RATE_ALERT,
                },
            )
        )
    return found

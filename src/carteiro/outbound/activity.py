"""What the outbound side did lately, per hour, and the alerts the dashboard raises on it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from carteiro.db.types import UTCDateTime, utcnow
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


def _hour_index(session: Session, at: Any, start: datetime) -> Any:
    """Whole hours from `start` to `at`, computed by the database (one cheap expression per
    row, so 24 buckets cost one pass however many events there are)."""
    since = literal(start, UTCDateTime())
    if session.get_bind().dialect.name == "sqlite":
        # Stored as UTC text; julianday parses it. Milliseconds as integers avoid a float
        # landing an event that is exactly on the hour in the hour before.
        millis = func.round((func.julianday(at) - func.julianday(since)) * 86_400_000)
        return cast(millis, Integer) // 3_600_000
    return cast(func.floor(func.extract("epoch", at - since) / 3600), Integer)


def hourly(
    session: Session,
    *,
    tenant_id: int,
    account_ids: Collection[int] | None = None,
    now: datetime | None = None,
    hours: int = 24,
) -> Activity:
    """Sent, failed (failed or dead) and bounced messages per hour for the last `hours` hours
    (the last bucket is the current hour), counted from the events in one grouped pass.

    `account_ids` limits it to messages of those accounts (None: every account)."""
    now = now or utcnow()
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    hour_ago, two_hours_ago = now - timedelta(hours=1), now - timedelta(hours=2)
    since = min(first, two_hours_ago)
    at, kind = EmailEvent.created_at, EmailEvent.type
    index = _hour_index(session, at, first).label("hour")
    stmt = (
        select(
            index,
            kind,
            func.count(),
            _count(at >= hour_ago),
            _count(at >= two_hours_ago, at < hour_ago),
        )
        .where(
            EmailEvent.tenant_id == tenant_id,
            at >= since,
            kind.in_((*SENT, *FAILED, *BOUNCED)),
        )
        .group_by(index, kind)
    )
    if account_ids is not None:
        stmt = stmt.join(Email, Email.id == EmailEvent.email_id).where(
            Email.account_id.in_(list(account_ids))
        )
    sent, failed, bounced = [0] * hours, [0] * hours, [0] * hours
    failed_hour = dead_hour = dead_before = 0
    for hour, type_, count, in_last_hour, in_hour_before in session.execute(stmt):
        if type_ in FAILED:
            failed_hour += int(in_last_hour)
        if type_ == "dead":
            dead_hour += int(in_last_hour)
            dead_before += int(in_hour_before)
        if hour is None or not 0 <= int(hour) < hours:
            continue  # before the first bucket (only read for the rolling last two hours)
        target = sent if type_ in SENT else failed if type_ in FAILED else bounced
        target[int(hour)] += int(count)
    counts = [
        HourCounts(first + timedelta(hours=i), sent[i], failed[i], bounced[i]) for i in range(hours)
    ]
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

"""Tracking verbs: register a tracked message, resolve a token, record and classify hits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.db import leases as leader
from carteiro.db import upsert
from carteiro.db.base import table_of
from carteiro.db.types import utcnow
from carteiro.events.bus import Bus
from carteiro.events.models import OutboxEvent
from carteiro.tracking import classify
from carteiro.tracking.body import Tracked
from carteiro.tracking.events import Clicked, Opened
from carteiro.tracking.models import TrackedMessage, TrackingHit, TrackingTenant
from carteiro.tracking.schemas import ClassCounts, TrackingStats

LEAD = "tracking"
MAX_TOKEN = 32


def is_anonymous(session: Session, *, tenant_id: int, settings: Settings) -> bool:
    """The tenant's own choice, else the installation default."""
    row = session.get(TrackingTenant, tenant_id)
    return row.anonymous if row is not None else settings.tracking_anonymous


def set_anonymous(session: Session, *, tenant_id: int, anonymous: bool) -> None:
    """Anonymous mode: messages tracked from now on keep no email id and no network."""
    session.execute(
        upsert.insert(session, TrackingTenant)
        .values(tenant_id=tenant_id, anonymous=anonymous, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=["tenant_id"], set_={"anonymous": anonymous, "updated_at": utcnow()}
        )
    )


def register(
    session: Session,
    *,
    tenant_id: int,
    tracked: Tracked,
    email_id: int | None,
    anonymous: bool,
    campaign_id: int | None = None,
    token: str | None = None,
) -> None:
    """Stores what the token's links stand for. `token` overrides the body's (a body compiled
    once with a placeholder token, registered per recipient)."""
    register_many(
        session,
        [
            {
                "tenant_id": tenant_id,
                "token": token or tracked.token,
                "email_id": None if anonymous else email_id,
                "campaign_id": campaign_id,
                "anonymous": anonymous,
                "urls": tracked.urls,
                "trap": tracked.trap,
            }
        ],
    )


def register_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk form of `register`: dicts of `tracked_messages` columns, one statement."""
    if rows:
        now = utcnow()
        session.execute(
            insert(table_of(TrackedMessage)), [{"created_at": now, **row} for row in rows]
        )


@dataclass(frozen=True)
class Target:
    """What a token resolves to: immutable once registered, so it may be cached."""

    id: int
    tenant_id: int
    urls: tuple[str, ...]
    trap: int
    anonymous: bool


def target(session: Session, *, token: str) -> Target | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.execute(
        select(
            TrackedMessage.id,
            TrackedMessage.tenant_id,
            TrackedMessage.urls,
            TrackedMessage.trap,
            TrackedMessage.anonymous,
        ).where(TrackedMessage.token == token)
    ).first()
    if row is None:
        return None
    return Target(row.id, row.tenant_id, tuple(row.urls), row.trap, row.anonymous)


@dataclass(frozen=True)
class HitIn:
    """One hit as the endpoint saw it (already reduced: no address, only a network hash)."""

    target: Target
    kind: str
    link: int | None
    at: datetime
    user_agent: str | None
    network: str | None


_HIT_COLUMNS = ("tenant_id", "tracked_id", "kind", "link", "at", "user_agent", "network")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores UTCDateTime on SQLite


def record(session: Session, hits: list[HitIn]) -> None:
    """Inserts the hits as they are; classification comes later (`classify_pending`).

    One driver-level executemany: the rows are plain tuples, so a large batch costs the
    process little Python (and the event loop little of the GIL) on the hot path."""
    if not hits:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    marks = ", ".join(["?" if sqlite else "%s"] * len(_HIT_COLUMNS))
    rows = [
        (
            h.target.tenant_id,
            h.target.id,
            h.kind,
            h.link,
            h.at.astimezone(UTC).strftime(_SQLITE_TIME) if sqlite else h.at,
            h.user_agent,
            None if h.target.anonymous else h.network,
        )
        for h in hits
    ]
    session.connection().exec_driver_sql(
        f"INSERT INTO tracking_hits ({', '.join(_HIT_COLUMNS)}) VALUES ({marks})", rows
    )


def _hits(session: Session, where: Any, limit: int | None = None) -> list[classify.Hit]:
    stmt = (
        select(
            TrackingHit.id,
            TrackingHit.tracked_id,
            TrackingHit.kind,
            TrackingHit.link,
            TrackingHit.at,
            TrackingHit.user_agent,
        )
        .where(where)
        .order_by(TrackingHit.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [classify.Hit(*row) for row in session.execute(stmt)]


def _context(session: Session, pending: list[classify.Hit]) -> list[classify.Hit]:
    """The other hits the verdicts depend on: clicks of the same messages within a burst's
    window of the pending ones, and trap hits within the trap window. Opens and farther
    clicks change no verdict, and loading them (tens per pending hit under load) used to be
    most of a sweep's time."""
    low, high = min(h.at for h in pending), max(h.at for h in pending)
    near = TrackingHit.at.between(low - classify.BURST_WINDOW, high + classify.BURST_WINDOW)
    return _hits(
        session,
        TrackingHit.tracked_id.in_({h.tracked_id for h in pending})
        & TrackingHit.at.between(low - classify.TRAP_WINDOW, high + classify.TRAP_WINDOW)
        & ((TrackingHit.kind == "trap") | ((TrackingHit.kind == "click") & near)),
    )


def classify_pending(
    session: Session,
    *,
    bus: Bus,
    owner: str,
    now: datetime | None = None,
    settle_seconds: float = 10.0,
    batch: int = 1000,
) -> int:
    """Classifies the hits older than `settle_seconds` (so a burst's later hits are there to
    be seen), then publishes each as Opened/Clicked and as an `opened`/`clicked` webhook event.
    Runs where this process leads the job; returns how many hits it classified."""
    if not leader.try_lead(session, name=LEAD, owner=owner, ttl=30.0):
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settle_seconds)
    pending = _hits(
        session, (TrackingHit.hit_class.is_(None)) & (TrackingHit.at <= cutoff), limit=batch
    )
    if not pending:
        return 0
    verdicts = classify.classify(pending, _context(session, pending))
    grouped: dict[classify.Verdict, list[int]] = defaultdict(list)
    for hit_id, verdict in verdicts.items():
        grouped[verdict].append(hit_id)
    for verdict, hit_ids in grouped.items():
        session.execute(
            update(TrackingHit)
            .where(TrackingHit.id.in_(hit_ids))
            .values(hit_class=verdict.hit_class, reason=verdict.reason),
            execution_options={"synchronize_session": False},
        )
    _publish(session, bus, pending, verdicts)
    return len(pending)


def _publish(
    session: Session,
    bus: Bus,
    hits: list[classify.Hit],
    verdicts: dict[int, classify.Verdict],
) -> None:
    messages = {
        row.id: row
        for row in session.execute(
            select(
                TrackedMessage.id,
                TrackedMessage.tenant_id,
                TrackedMessage.email_id,
                TrackedMessage.campaign_id,
                TrackedMessage.urls,
            ).where(TrackedMessage.id.in_({h.tracked_id for h in hits}))
        )
    }
    outbox: list[dict[str, Any]] = []
    events: list[Opened | Clicked] = []
    for hit in hits:
        if hit.kind == "trap":
            continue  # a scanner's own link: no open, no click
        message, verdict = messages[hit.tracked_id], verdicts[hit.id]
        data: dict[str, Any] = {
            "email_id": message.email_id,
            "campaign_id": message.campaign_id,
            "at": hit.at.isoformat(),
            "human": verdict.human,
            "kind": verdict.hit_class,
            "reason": verdict.reason,
        }
        event: Opened | Clicked
        if hit.kind == "open":
            event = Opened(
                message.tenant_id,
                message.email_id,
                message.campaign_id,
                hit.at,
                verdict.human,
                verdict.hit_class,
            )
            type_ = "opened"
        else:
            link = hit.link if hit.link is not None else -1
            url = message.urls[link]
            event = Clicked(
                message.tenant_id,
                message.email_id,
                message.campaign_id,
                hit.at,
                verdict.human,
                verdict.hit_class,
                url,
                link,
            )
            data.update(url=url, link=link)
            type_ = "clicked"
        events.append(event)
        outbox.append(
            {"tenant_id": message.tenant_id, "type": type_, "payload": data, "created_at": utcnow()}
        )
    bus.publish_many(session, events)
    if outbox:
        session.execute(insert(table_of(OutboxEvent)), outbox)


def stats(
    session: Session,
    *,
    tenant_id: int,
    email_id: int | None = None,
    campaign_id: int | None = None,
) -> TrackingStats:
    """Counts by kind and class for one message or one campaign (all hits, not unique)."""
    where = [TrackedMessage.tenant_id == tenant_id]
    if email_id is not None:
        where.append(TrackedMessage.email_id == email_id)
    if campaign_id is not None:
        where.append(TrackedMessage.campaign_id == campaign_id)
    rows = session.execute(
        select(TrackingHit.kind, TrackingHit.hit_class, TrackingHit.link, func.count())
        .join(TrackedMessage, TrackedMessage.id == TrackingHit.tracked_id)
        .where(*where)
        .group_by(TrackingHit.kind, TrackingHit.hit_class, TrackingHit.link)
    )
    opens, clicks = ClassCounts(), ClassCounts()
    by_link: dict[int, int] = {}
    for kind, hit_class, link, count in rows:
        if kind == "trap":
            continue
        counts = opens if kind == "open" else clicks
        name = hit_class or "unclassified"
        setattr(counts, name, getattr(counts, name) + count)
        if kind == "click" and hit_class == "human" and link is not None:
            by_link[link] = by_link.get(link, 0) + count
    return TrackingStats(opens=opens, clicks=clicks, human_clicks_by_link=by_link)

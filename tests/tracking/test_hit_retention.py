"""Tracking hits' retention: classified hits past the setting are deleted in slices by the
process that leads the purge; recent, unclassified and kept-forever hits stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from carteiro.db.types import utcnow
from carteiro.runtime import Runtime
from carteiro.tracking import purge
from carteiro.tracking.body import Tracked
from carteiro.tracking.models import TrackedMessage, TrackingHit

DAY = timedelta(days=1)


def _hits(runtime: Runtime, tracked: Tracked, ages: list[tuple[float, str | None]]) -> None:
    now = utcnow()
    with runtime.db.session() as session:
        message = session.scalars(
            select(TrackedMessage).where(TrackedMessage.token == tracked.token)
        ).one()
        session.add_all(
            TrackingHit(
                tenant_id=message.tenant_id,
                tracked_id=message.id,
                kind="open",
                at=now - age * DAY,
                hit_class=hit_class,
            )
            for age, hit_class in ages
        )


def _left(runtime: Runtime) -> list[tuple[int, str | None]]:
    now = utcnow()
    with runtime.db.session() as session:
        rows = session.execute(
            select(TrackingHit.at, TrackingHit.hit_class).order_by(TrackingHit.id)
        )
        return [(round((now - at) / DAY), hit_class) for at, hit_class in rows]


def test_old_classified_hits_go_and_the_rest_stay(
    runtime: Runtime, track: Callable[..., Tracked]
) -> None:
    tracked = track('<a href="https://loja.example/">loja</a>')
    _hits(
        runtime,
        tracked,
        [(400, "human"), (366, "scanner"), (400, None), (364, "human"), (1, "bot_ua")],
    )
    runtime.settings.tracking_retention_days = 365
    removed = purge.purge_once(runtime, now=utcnow(), owner="a")
    assert removed == 2
    assert _left(runtime) == [(400, None), (364, "human"), (1, "bot_ua")]
    assert purge.purge_once(runtime, now=utcnow(), owner="a") == 0


def test_a_backlog_goes_in_slices_and_zero_keeps_everything(
    runtime: Runtime, track: Callable[..., Tracked]
) -> None:
    tracked = track('<a href="https://loja.example/">loja</a>')
    _hits(runtime, tracked, [(500, "human")] * 7 + [(10, "human")])
    runtime.settings.tracking_retention_days = 0
    assert purge.purge_once(runtime, now=utcnow(), owner="a") == 0
    assert len(_left(runtime)) == 8
    runtime.settings.tracking_retention_days = 30
    with runtime.db.session() as session:
        first = purge.purge_slice(session, before=utcnow() - 30 * DAY, limit=3)
    assert first == 3 and len(_left(runtime)) == 5
    assert purge.purge_once(runtime, now=utcnow(), owner="a") == 4
    assert _left(runtime) == [(10, "human")]

"""Sweeps load only the hits a verdict can depend on, yet judge exactly as if they saw them all."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carteiro.runtime import Runtime
from carteiro.tracking import classify, service
from carteiro.tracking.body import Tracked
from carteiro.tracking.models import TrackingHit
from carteiro.tracking.service import HitIn

Track = Callable[..., Tracked]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HTML = "".join(f'<a href="https://loja.example/{i}">{i}</a>' for i in range(5))


def _random_hits(rng: random.Random, targets: list[service.Target]) -> list[HitIn]:
    hits = []
    for _ in range(400):
        target = rng.choice(targets)
        # Clumps a few seconds wide over four minutes: some make bursts, most do not.
        at = T0 + timedelta(seconds=rng.choice(range(0, 240, 9)) + rng.uniform(0, 7))
        roll = rng.random()
        if roll < 0.3:
            kind, link = "open", None
        elif roll < 0.95:
            kind, link = "click", rng.randrange(target.trap)
        else:
            kind, link = "trap", target.trap
        agent = GOOGLEBOT if rng.random() < 0.1 else FIREFOX
        hits.append(HitIn(target, kind, link, at, agent, None))
    # Written in the order they came, so each small sweep is a slice of time and the hits
    # around its edges are in the sweeps before and after it.
    return sorted(hits, key=lambda h: h.at)


def test_small_sweeps_give_the_verdicts_of_judging_every_hit_at_once(
    runtime: Runtime, track: Track
) -> None:
    rng = random.Random(20261201)
    tokens = [track(HTML).token for _ in range(3)]
    with runtime.db.session() as session:
        targets = [service.target(session, token=token) for token in tokens]
    assert all(t is not None for t in targets)
    with runtime.db.session() as session:
        service.record(session, _random_hits(rng, [t for t in targets if t is not None]))
    with runtime.db.session() as session:
        every = [
            classify.Hit(*row)
            for row in session.execute(
                select(
                    TrackingHit.id,
                    TrackingHit.tracked_id,
                    TrackingHit.kind,
                    TrackingHit.link,
                    TrackingHit.at,
                    TrackingHit.user_agent,
                )
            )
        ]
    expected = {
        hit_id: (v.hit_class, v.reason) for hit_id, v in classify.classify(every, every).items()
    }
    # The sample has every verdict the context decides, or it would prove nothing.
    assert {"link_burst", "near_trap_link", "trap_link", "none"} <= {
        r for _, r in expected.values()
    }

    swept = 0
    while True:
        with runtime.db.session() as session:
            done = service.classify_pending(
                session,
                bus=runtime.bus,
                owner="test",
                now=T0 + timedelta(hours=1),
                settle_seconds=10,
                batch=15,
            )
        if not done:
            break
        swept += done
    assert swept == len(every) == 400
    with runtime.db.session() as session:
        got = {
            hit_id: (hit_class, reason)
            for hit_id, hit_class, reason in session.execute(
                select(TrackingHit.id, TrackingHit.hit_class, TrackingHit.reason)
            )
        }
    assert got == expected

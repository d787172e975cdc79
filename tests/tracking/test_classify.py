"""Classification: agents, bursts and traps; events and webhook rows; anonymous mode; counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.events.models import OutboxEvent
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.tracking import service
from carteiro.tracking.agents import classify_agent
from carteiro.tracking.body import Tracked
from carteiro.tracking.classify import Hit, classify
from carteiro.tracking.events import Clicked, Opened
from carteiro.tracking.models import TrackedMessage, TrackingHit
from carteiro.tracking.service import HitIn

Track = Callable[..., Tracked]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HTML = "".join(f'<a href="https://loja.example/{i}">{i}</a>' for i in range(5))


@pytest.mark.parametrize(
    ("agent", "kind", "expected"),
    [
        (FIREFOX, "click", None),
        (IPHONE, "open", None),
        (GMAIL, "open", "gmail_prefetch"),
        (GMAIL, "click", "gmail_prefetch"),
        ("Mozilla/5.0", "open", "apple_proxy"),
        ("Mozilla/5.0", "click", None),
        ("", "open", "bot_ua"),
        (None, "click", "bot_ua"),
        ("curl/8.5.0", "click", "bot_ua"),
        ("python-requests/2.32", "click", "bot_ua"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "click", "bot_ua"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "open",
            "bot_ua",
        ),
        ("Mozilla/5.0 HeadlessChrome/120.0", "click", "bot_ua"),
        ("Barracuda Sentinel (EE)", "click", "scanner"),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "click", "scanner"),
        ("Mimecast-URL-Protect/1.0", "click", "scanner"),
    ],
)
def test_agents(agent: str | None, kind: str, expected: str | None) -> None:
    found = classify_agent(agent, kind=kind)
    assert (found[0] if found else None) == expected


def _hit(id_: int, kind: str, link: int | None, seconds: float, agent: str = FIREFOX) -> Hit:
    return Hit(id_, 1, kind, link, T0 + timedelta(seconds=seconds), agent)


def test_a_person_clicking_two_links_is_human() -> None:
    hits = [_hit(1, "open", None, 0), _hit(2, "click", 0, 3), _hit(3, "click", 1, 4)]
    assert {i: v.hit_class for i, v in classify(hits, []).items()} == {
        1: "human",
        2: "human",
        3: "human",
    }


def test_many_links_within_seconds_is_a_scanner() -> None:
    hits = [_hit(i, "click", i, i * 0.4) for i in range(1, 5)]
    late = _hit(9, "click", 0, 120)  # the person, two minutes later
    verdicts = classify([*hits, late], [])
    assert {verdicts[h.id].reason for h in hits} == {"link_burst"}
    assert verdicts[9].hit_class == "human"


def test_the_same_link_twice_is_no_burst() -> None:
    hits = [_hit(i, "click", 0, i * 0.2) for i in range(1, 6)]
    assert {v.hit_class for v in classify(hits, []).values()} == {"human"}


def test_a_trap_hit_marks_the_clicks_around_it() -> None:
    hits = [_hit(1, "trap", 5, 0), _hit(2, "click", 0, 1), _hit(3, "click", 1, 3600)]
    verdicts = classify(hits, [])
    assert verdicts[1].reason == "trap_link"
    assert verdicts[2].reason == "near_trap_link"
    assert verdicts[3].hit_class == "human"


def test_earlier_classified_hits_count_as_context() -> None:
    context = [_hit(1, "click", 0, 0), _hit(2, "click", 1, 1)]
    verdicts = classify([_hit(3, "click", 2, 2)], context)
    assert list(verdicts) == [3] and verdicts[3].reason == "link_burst"


class Collected:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, session: Session, event: Any) -> None:
        self.events.append(event)


def _record(runtime: Runtime, token: str, rows: list[tuple[str, int | None, float, str]]) -> None:
    with runtime.db.session() as session:
        target = service.target(session, token=token)
        assert target is not None
        service.record(
            session,
            [
                HitIn(target, kind, link, T0 + timedelta(seconds=s), agent, "0123456789abcdef")
                for kind, link, s, agent in rows
            ],
        )


def _classify(runtime: Runtime, now: datetime = T0 + timedelta(minutes=5)) -> int:
    with runtime.db.session() as session:
        return service.classify_pending(
            session, bus=runtime.bus, owner="test", now=now, settle_seconds=10
        )


def test_classified_hits_publish_events_and_webhook_rows(
    runtime: Runtime, principal: Principal, track: Track
) -> None:
    collected = Collected()
    runtime.bus.subscribe(Opened, collected)
    runtime.bus.subscribe(Clicked, collected)
    tracked = track(HTML)
    _record(
        runtime,
        tracked.token,
        [
            ("open", None, 0, GMAIL),
            ("open", None, 30, IPHONE),
            ("click", 3, 40, IPHONE),
            ("trap", tracked.trap, 90, "Mozilla/5.0 (Windows NT 10.0)"),
        ],
    )
    assert _classify(runtime) == 4
    assert _classify(runtime) == 0  # each hit once
    assert [(type(e).__name__, e.kind, e.human) for e in collected.events] == [
        ("Opened", "gmail_prefetch", False),
        ("Opened", "human", True),
        ("Clicked", "human", True),
    ]
    click = collected.events[2]
    assert click.url == "https://loja.example/3" and click.link == 3
    assert click.tenant_id == principal.tenant_id and click.at == T0 + timedelta(seconds=40)
    with runtime.db.session() as session:
        rows = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        assert [(r.type, r.payload["kind"]) for r in rows] == [
            ("opened", "gmail_prefetch"),
            ("opened", "human"),
            ("clicked", "human"),
        ]
        assert rows[2].payload["url"] == "https://loja.example/3"
        stats = service.stats(session, tenant_id=principal.tenant_id)
    assert stats.opens.human == 1 and stats.opens.gmail_prefetch == 1 and stats.opens.machine == 1
    assert stats.clicks.human == 1 and stats.human_clicks_by_link == {3: 1}


def test_hits_wait_until_they_have_settled(runtime: Runtime, track: Track) -> None:
    tracked = track(HTML)
    _record(runtime, tracked.token, [("click", 0, 0, FIREFOX)])
    # Too fresh: a scanner's next clicks may still be on their way.
    assert _classify(runtime, now=T0 + timedelta(seconds=5)) == 0
    _record(runtime, tracked.token, [("click", 1, 3, FIREFOX), ("click", 2, 4, FIREFOX)])
    assert _classify(runtime, now=T0 + timedelta(seconds=30)) == 3
    with runtime.db.session() as session:
        reasons = set(session.scalars(select(TrackingHit.reason)))
    # Judged together, the first click belongs to the burst too.
    assert reasons == {"link_burst"}


def test_anonymous_mode_keeps_no_recipient_and_no_network(
    client: TestClient, runtime: Runtime, principal: Principal, smtp_account: int
) -> None:
    collected = Collected()
    runtime.bus.subscribe(Opened, collected)
    assert client.get("/tracking/settings").json() == {"anonymous": False}
    assert client.put("/tracking/settings", json={"anonymous": True}).json() == {"anonymous": True}
    assert client.put("/tracking/settings", json={"anonymous": "talvez"}).status_code == 422
    sent = client.post(
        "/emails",
        json={
            "to_email": "ana@example.org",
            "subject": "Oi",
            "body": "Veja https://loja.example/",
            "html_body": '<body><a href="https://loja.example/">loja</a></body>',
            "account": "sink",
            "track": True,
        },
    )
    assert sent.status_code in (200, 201, 202), sent.text
    with runtime.db.session() as session:
        (message,) = session.scalars(select(TrackedMessage))
        assert message.email_id is None and message.anonymous
        token = message.token
    client.get(f"/t/{token}/o.gif", headers={"User-Agent": IPHONE})
    with runtime.db.session() as session:
        (hit,) = session.scalars(select(TrackingHit))
        assert hit.network is None
        hit.at = utcnow() - timedelta(minutes=1)
    _classify(runtime, now=utcnow())
    (event,) = collected.events
    assert event.email_id is None and event.human
    with runtime.db.session() as session:
        (row,) = session.scalars(select(OutboxEvent))
        assert row.payload["email_id"] is None
        # Only aggregate counts remain: per tenant (or campaign), not per message.
        assert service.stats(session, tenant_id=principal.tenant_id).opens.human == 1
    email_id = sent.json()["id"]
    assert client.get(f"/emails/{email_id}/tracking").json()["opens"]["human"] == 0

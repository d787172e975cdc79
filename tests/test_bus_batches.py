"""The bus: events published together reach a batch subscriber in one call, in their order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carteiro.events.bus import BatchSubscription, Bounced, Bus, Subscription, Unsubscribed

HARD = Bounced(tenant_id=1, address="a@cliente.com.br", kind="hard")
SOFT = Bounced(tenant_id=1, address="b@cliente.com.br", kind="soft")
OUT = Unsubscribed(
    tenant_id=1, address="c@cliente.com.br", campaign_id=None, email_id=None, source="link"
)
# Handlers never touch the session here: the bus only hands it on.
SESSION: Any = object()


def test_a_batch_subscriber_gets_the_events_published_together_in_one_call() -> None:
    calls: list[list[object]] = []

    def both(session: Session, events: list[Any]) -> None:
        assert session is SESSION
        calls.append(events)

    bus = Bus([BatchSubscription(Bounced, both), BatchSubscription(Unsubscribed, both)])
    bus.publish_many(SESSION, [HARD, OUT, SOFT])
    # One call, the two types interleaved as published.
    assert calls == [[HARD, OUT, SOFT]]
    bus.publish(SESSION, SOFT)
    assert calls[-1] == [SOFT]
    bus.publish_many(SESSION, [])
    assert len(calls) == 2


def test_an_event_subscriber_still_gets_one_call_per_event_in_order() -> None:
    seen: list[tuple[str, object]] = []

    def one(session: Session, event: Any) -> None:
        seen.append(("one", event))

    def many(session: Session, events: list[Any]) -> None:
        seen.append(("many", list(events)))

    bus = Bus([Subscription(Bounced, one), BatchSubscription(Bounced, many)])
    bus.subscribe(Unsubscribed, one)
    bus.subscribe(Bounced, one)  # twice: still once
    bus.subscribe_batch(Bounced, many)
    bus.publish_many(SESSION, [HARD, OUT, SOFT])
    # Subscriber by subscriber, each with all of its events.
    assert seen == [("one", HARD), ("one", OUT), ("one", SOFT), ("many", [HARD, SOFT])]


def test_events_nobody_subscribed_to_reach_no_one() -> None:
    calls: list[object] = []
    bus = Bus([BatchSubscription(Unsubscribed, lambda _s, events: calls.extend(events))])
    bus.publish_many(SESSION, [HARD, SOFT])
    assert calls == []
    bus.publish_many(SESSION, [HARD, OUT])
    assert calls == [OUT]

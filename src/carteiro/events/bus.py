"""In-process subscribers: a domain publishes a change, the domains that react subscribe to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[[Session, Any], None]
BatchHandler = Callable[[Session, list[Any]], None]


@dataclass(frozen=True)
class Bounced:
    """A recipient bounced or complained: `kind` is hard, soft or complaint."""

    tenant_id: int
    address: str
    kind: Literal["hard", "soft", "complaint"]


@dataclass(frozen=True)
class Unsubscribed:
    """A recipient opted out through an unsubscribe link (once per address: a repeated
    click publishes nothing); `campaign_id` when the link came in a campaign's message."""

    tenant_id: int
    address: str
    campaign_id: int | None
    email_id: int | None
    source: str


@dataclass(frozen=True)
class Reply:
    """One incoming message that answers `in_reply_to` (a Message-ID we may have sent)."""

    inbox_message_id: int
    in_reply_to: str
    at: datetime


@dataclass(frozen=True)
class RepliesArrived:
    """A person's replies stored by one page of an inbox sync (bounces and automatic
    answers such as out-of-office excluded)."""

    tenant_id: int
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class ReplyRequested:
    """An inbox rule hands a new message to the AI responder: its job is queued in the same
    transaction as the message, by whoever subscribes."""

    tenant_id: int
    rule_id: int
    message_id: int
    thread_id: int
    mode: Literal["review", "send"]


@dataclass(frozen=True)
class EmailSettled:
    """An outbound message reached a final state: `status` is sent, failed, dead or bounced."""

    tenant_id: int
    email_id: int
    status: Literal["sent", "failed", "dead", "bounced"]
    detail: str | None = None


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """`handler(session, event)` runs for each published event of `event_type`."""

    event_type: type[E]
    handler: Callable[[Session, E], None]


@dataclass(frozen=True)
class BatchSubscription(Generic[E]):
    """`handler(session, events)` runs once for the events of `event_type` published together
    (`Bus.publish_many`), in their order: one query for a batch instead of one per event."""

    event_type: type[E]
    handler: Callable[[Session, list[E]], None]


class Bus:
    """One process's subscribers, given by the composition root (`carteiro.wiring`): the
    publisher sees only this object, never the domains that react."""

    def __init__(
        self, subscriptions: Iterable[Subscription[Any] | BatchSubscription[Any]] = ()
    ) -> None:
        self._handlers: dict[type, list[BatchHandler]] = {}
        # Each subscriber in its batch form, one per subscriber whatever the types it takes,
        # so that a subscriber of two types gets them interleaved as published.
        self._batch_forms: dict[Callable[..., None], BatchHandler] = {}
        for s in subscriptions:
            if isinstance(s, BatchSubscription):
                self.subscribe_batch(s.event_type, s.handler)
            else:
                self.subscribe(s.event_type, s.handler)

    def subscribe(self, event_type: type[E], handler: Callable[[Session, E], None]) -> None:
        def each(session: Session, events: list[E]) -> None:
            for event in events:
                handler(session, event)

        self._add(event_type, self._batch_forms.setdefault(handler, each))

    def subscribe_batch(
        self, event_type: type[E], handler: Callable[[Session, list[E]], None]
    ) -> None:
        self._add(event_type, self._batch_forms.setdefault(handler, handler))

    def _add(self, event_type: type, handler: BatchHandler) -> None:
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def publish(self, session: Session, event: object) -> None:
        """Runs each subscriber in the publisher's transaction, in the order they were given."""
        self.publish_many(session, [event])

    def publish_many(self, session: Session, events: Sequence[object]) -> None:
        """`publish` of several events at once: each subscriber runs once with all of its
        events, in the order they were published (a subscriber of two types gets both
        interleaved), before the next subscriber; for one event, as `publish`."""
        given: dict[BatchHandler, list[object]] = {}
        for event in events:
            for handler in tuple(self._handlers.get(type(event), ())):
                given.setdefault(handler, []).append(event)
        for handler, mine in given.items():
            handler(session, mine)

"""In-process subscribers: a domain publishes a change, the domains that react subscribe to it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[[Session, Any], None]


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


class Bus:
    """One process's subscribers, given by the composition root (`carteiro.wiring`): the
    publisher sees only this object, never the domains that react."""

    def __init__(self, subscriptions: Iterable[Subscription[Any]] = ()) -> None:
        self._handlers: dict[type, list[Handler]] = {}
        for s in subscriptions:
            self.subscribe(s.event_type, s.handler)

    def subscribe(self, event_type: type[E], handler: Callable[[Session, E], None]) -> None:
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def publish(self, session: Session, event: object) -> None:
        """Runs each subscriber in the publisher's transaction, in the order they were given."""
        for handler in list(self._handlers.get(type(event), ())):
            handler(session, event)

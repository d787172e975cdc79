"""In-process subscribers: a domain publishes a change, the domains that react subscribe to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[[Session, Any], None]
_subscribers: dict[type, list[Handler]] = {}


@dataclass(frozen=True)
class Bounced:
    """A recipient bounced or complained: `kind` is hard, soft or complaint."""

    tenant_id: int
    address: str
    kind: Literal["hard", "soft", "complaint"]


def subscribe(event_type: type[E], handler: Callable[[Session, E], None]) -> None:
    """Runs `handler(session, event)` in the publisher's transaction for each such event."""
    handlers = _subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type[E], handler: Callable[[Session, E], None]) -> None:
    handlers = _subscribers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def publish(session: Session, event: object) -> None:
    """Hands the event to its subscribers, in the order they subscribed."""
    for handler in list(_subscribers.get(type(event), ())):
        handler(session, event)

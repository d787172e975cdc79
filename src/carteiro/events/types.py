"""The event types webhooks can subscribe to."""

from __future__ import annotations

from typing import Literal

EventType = Literal[
    "queued",
    "sent",
    "deferred",
    "failed",
    "dead",
    "bounced",
    "complained",
    "unsubscribed",
    "account_paused",
]

EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

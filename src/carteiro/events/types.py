"""The event types webhooks can subscribe to."""

from __future__ import annotations

from typing import Literal, get_args

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
    "campaign_started",
    "campaign_paused",
    "campaign_finished",
]

EVENT_TYPES: tuple[str, ...] = get_args(EventType)

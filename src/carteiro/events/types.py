"""The event types webhooks can subscribe to."""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "queued",
    "held",
    "sent",
    "deferred",
    "failed",
    "dead",
    "bounced",
    "complained",
    "unsubscribed",
    "account_paused",
    "appointment_created",
    "appointment_rescheduled",
    "appointment_cancelled",
    "appointment_done",
    "appointment_no_show",
    "appointment_reminder",
    "callback_requested",
    "campaign_started",
    "campaign_paused",
    "campaign_finished",
    "opened",
    "clicked",
    "dispatch_sent",
    "dispatch_confirmed",
    "dispatch_failed",
    "dispatch_cancelled",
    "dispatch_failure_rate",
    "whatsapp_number_paused",
]

EVENT_TYPES: tuple[str, ...] = get_args(EventType)

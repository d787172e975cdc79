"""The composition root: which domain reacts to which event, for every process that runs one."""

from __future__ import annotations

from typing import Any

from carteiro.campaigns import engagement as campaign_engagement
from carteiro.config import Settings
from carteiro.dispatches import follow
from carteiro.events.bus import (
    BatchSubscription,
    Bounced,
    Bus,
    EmailSettled,
    RepliesArrived,
    ReplyRequested,
    Subscription,
    Unsubscribed,
)
from carteiro.leads import suppression
from carteiro.responder import handoff
from carteiro.runtime import Runtime
from carteiro.tracking.events import Clicked, Opened

# Every reaction across domains, in one list the import map can see.
SUBSCRIPTIONS: tuple[Subscription[Any] | BatchSubscription[Any], ...] = (
    Subscription(Bounced, suppression.on_bounce),
    # The campaign that mailed the address counts it (its guards read the counters).
    Subscription(Bounced, campaign_engagement.on_bounce),
    # Opens and clicks the tracker classified, on the campaign's ledger and counters.
    BatchSubscription(Opened, campaign_engagement.on_tracked),
    BatchSubscription(Clicked, campaign_engagement.on_tracked),
    # An opt-out through a campaign message's link, on that campaign's counters.
    Subscription(Unsubscribed, campaign_engagement.on_unsubscribed),
    # A person's answer to a campaign message, on that campaign's ledger and counters.
    Subscription(RepliesArrived, campaign_engagement.on_replies),
    # An inbox rule's `ai` responder: the message becomes the AI responder's durable job.
    Subscription(ReplyRequested, handoff.on_reply_requested),
    # A dispatch by e-mail follows its message to sent, failed or bounced.
    Subscription(EmailSettled, follow.on_email_settled),
)


def bus() -> Bus:
    return Bus(SUBSCRIPTIONS)


def runtime(settings: Settings) -> Runtime:
    """The runtime every entry point (serve, worker, CLI, MCP) starts from."""
    return Runtime.from_settings(settings, bus=bus())

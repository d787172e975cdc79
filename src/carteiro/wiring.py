"""The composition root: which domain reacts to which event, for every process that runs one."""

from __future__ import annotations

from typing import Any

from carteiro.config import Settings
from carteiro.dispatches import follow
from carteiro.events.bus import Bounced, Bus, EmailSettled, Subscription
from carteiro.leads import suppression
from carteiro.runtime import Runtime

# Every reaction across domains, in one list the import map can see.
SUBSCRIPTIONS: tuple[Subscription[Any], ...] = (
    Subscription(Bounced, suppression.on_bounce),
    Subscription(EmailSettled, follow.on_email_settled),
)


def bus() -> Bus:
    return Bus(SUBSCRIPTIONS)


def runtime(settings: Settings) -> Runtime:
    """The runtime every entry point (serve, worker, CLI, MCP) starts from."""
    return Runtime.from_settings(settings, bus=bus())

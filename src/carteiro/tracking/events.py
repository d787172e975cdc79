"""What tracking publishes on the bus once a hit is classified (campaigns subscribe to it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Opened:
    """The open pixel was fetched; `kind` says by whom (human, apple_proxy, gmail_prefetch,
    scanner, bot_ua). `email_id` is None in anonymous mode."""

    tenant_id: int
    email_id: int | None
    campaign_id: int | None
    at: datetime
    human: bool
    kind: str


@dataclass(frozen=True)
class Clicked:
    """A tracked link was followed to `url` (the stored one); `link` is its index."""

    tenant_id: int
    email_id: int | None
    campaign_id: int | None
    at: datetime
    human: bool
    kind: str
    url: str
    link: int

"""Tracking shapes: a message's counts by kind of hit, the tenant's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, computed_field


class ClassCounts(BaseModel):
    """Hits by class; `machine` is everything but `human`."""

    human: int = 0
    apple_proxy: int = 0
    gmail_prefetch: int = 0
    scanner: int = 0
    bot_ua: int = 0
    unclassified: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def machine(self) -> int:
        return self.apple_proxy + self.gmail_prefetch + self.scanner + self.bot_ua


class TrackingStats(BaseModel):
    opens: ClassCounts
    clicks: ClassCounts
    # Clicks of people per link index.
    human_clicks_by_link: dict[int, int]


class TrackingSettings(BaseModel):
    """Anonymous mode: messages tracked from then on keep no email id and no network hash."""

    model_config = ConfigDict(extra="forbid")

    anonymous: bool

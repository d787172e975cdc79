"""Request and response shapes of webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from carteiro.events.types import EventType


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    events: list[EventType] = Field(min_length=1, description="event types to receive")
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="signing secret (at least 16 characters); absent: one is generated and "
        "returned once",
    )
    description: str | None = Field(None, max_length=200, pattern=r"^[^\r\n]*$")


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="the signing secret; shown only now")


class DeliveryPublic(BaseModel):
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    status: Literal["pending", "delivering", "delivered", "failed"]
    attempts: int
    run_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    total: int
    limit: int
    offset: int

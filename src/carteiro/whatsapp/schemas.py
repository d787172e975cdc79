"""WhatsApp request and response shapes: numbers, templates, the seed's send endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class NumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    provider: Literal["cloud", "evolution"] = "cloud"
    phone_number_id: str = Field(
        min_length=1, max_length=128, description="Cloud API phone-number id, or the instance"
    )
    display_phone: str | None = Field(None, max_length=32)
    token: str = Field(min_length=1, max_length=4096, description="access token or apikey")
    app_secret: str | None = Field(None, max_length=512)
    verify_token: str | None = Field(None, max_length=512)
    base_url: str | None = Field(None, max_length=500)
    rate_per_second: float = Field(80.0, gt=0, le=1000)
    pair_interval_seconds: float = Field(6.0, ge=0, le=3600)
    fallback_template: str | None = Field(None, max_length=128)


class NumberUpdate(BaseModel):
    """A change to a number: fields left out (or None) stay; secrets are write-only."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=64)
    phone_number_id: str | None = Field(None, min_length=1, max_length=128)
    display_phone: str | None = Field(None, max_length=32)
    token: str | None = Field(None, min_length=1, max_length=4096)
    app_secret: str | None = Field(None, min_length=1, max_length=512)
    verify_token: str | None = Field(None, min_length=1, max_length=512)
    base_url: str | None = Field(None, max_length=500)
    rate_per_second: float | None = Field(None, gt=0, le=1000)
    pair_interval_seconds: float | None = Field(None, ge=0, le=3600)
    fallback_template: str | None = Field(None, max_length=128)


class NumberPause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="why, shown on the number")


class NumberPublic(BaseModel):
    id: int
    name: str
    provider: str
    phone_number_id: str
    display_phone: str | None
    base_url: str | None
    rate_per_second: float
    pair_interval_seconds: float
    status: str
    paused_reason: str | None
    paused_until: datetime | None
    fallback_template: str | None
    webhook_path: str
    # The rate it may use now: below rate_per_second for a while after Meta throttled it.
    current_rate_per_second: float | None = None
    throttled_at: datetime | None = None


class TemplateParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    required: bool = True


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9_]+$")
    language: str = Field("pt_BR", min_length=2, max_length=16)
    category: Literal["UTILITY", "MARKETING", "AUTHENTICATION"] = "UTILITY"
    param_format: Literal["named", "positional"] = "named"
    params: list[TemplateParam] = Field(default_factory=list, max_length=60)
    body: str | None = Field(None, max_length=1024)


class TemplatePublic(BaseModel):
    id: int
    name: str
    language: str
    category: str
    param_format: str
    params: list[dict[str, Any]]
    body: str | None


class WhatsAppSend(BaseModel):
    """Seed shape of `POST /mcp/whatsapp/send`."""

    to: str = Field(min_length=3, max_length=32, description="E.164, e.g. +5511987654321")
    message: str | None = Field(None, max_length=4096)
    templateId: str | None = Field(None, max_length=128)
    variables: dict[str, Any] | None = None
    idempotencyKey: str | None = Field(None, max_length=255)


class SendError(BaseModel):
    code: str
    message: str
    retryable: bool


class WhatsAppSendResult(BaseModel):
    messageId: str | None
    status: Literal["sent", "failed", "queued"]
    error: SendError | None = None
    disparoId: int | None = None

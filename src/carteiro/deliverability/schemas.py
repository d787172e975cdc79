"""Request and response shapes of suppressions, DKIM keys, DNS reports and webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Reason = Literal["hard_bounce", "complaint", "unsubscribe", "manual"]
REASONS: tuple[str, ...] = ("hard_bounce", "complaint", "unsubscribe", "manual")
CheckStatus = Literal["ok", "warning", "error", "skipped"]
DnsStatus = Literal["ok", "warning", "error"]
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


class SuppressionCreate(BaseModel):
    """Exactly one of `email` or `domain` (checked by the service, which names the field)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320, description="one address")
    domain: str | None = Field(None, max_length=253, description="every address of a domain")
    reason: Reason = "manual"


class SuppressionPublic(BaseModel):
    id: int
    email: str | None
    domain: str | None
    reason: Reason
    source: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionPublic]
    total: int
    limit: int
    offset: int


class DkimKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(max_length=253, description="the From domain to sign for")
    selector: str = Field("carteiro", max_length=63)


class DnsRecord(BaseModel):
    """A record to publish at the domain's DNS host."""

    type: Literal["TXT", "MX"]
    name: str
    value: str
    purpose: str
    note: str | None = None


class DkimKeyPublic(BaseModel):
    id: int
    domain: str
    selector: str
    algorithm: str
    bits: int
    active: bool
    created_at: datetime
    record: DnsRecord


class Check(BaseModel):
    """One DNS check: what was found and whether it is good enough."""

    name: Literal["spf", "dkim", "dmarc", "mx"]
    status: CheckStatus
    message: str
    found: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class DnsReport(BaseModel):
    domain: str
    status: DnsStatus
    checks: list[Check]
    records: list[DnsRecord]
    checked_at: datetime


class AccountDnsReport(DnsReport):
    account_id: int
    account: str
    smtp_host: str


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

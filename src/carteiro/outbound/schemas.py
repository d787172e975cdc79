"""Outbound request and response shapes (names fixed by the public contract and the seeds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from carteiro.db.types import NameOrId, RowId, StoredDatetime

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["pending", "held", "sending", "sent", "failed", "dead", "cancelled", "suppressed"]
AddressList = list[str] | str | None


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field("application/octet-stream", max_length=255)
    content_base64: str


class EmailCreate(BaseModel):
    """One message to send; `to_email`, `subject` and `body` are required."""

    model_config = ConfigDict(extra="forbid")

    to_email: list[str] | str = Field(description="one address, a list, or comma-separated")
    cc_emails: AddressList = None
    bcc_emails: AddressList = None
    subject: str = Field(max_length=500)
    body: str
    html_body: str | None = None
    priority: Priority = "normal"
    scheduled_at: StoredDatetime | None = Field(
        None, description="ISO 8601 with offset; in the past or absent: as soon as possible"
    )
    attachments: list[AttachmentIn] | None = None
    account: NameOrId | None = Field(None, description="account name or id; default: the pool")
    from_email: str | None = Field(
        None,
        max_length=320,
        description="route through the pool account with this address, or '@domain' for any "
        "account of that domain",
    )
    from_name: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[^\r\n]*$",
        description="the From display name; default: the sending account's display name",
    )
    reply_to: AddressList = None
    headers: dict[str, str] | None = None
    track: bool = Field(
        False,
        description="rewrite the links through the tracker and add an open pixel (see the "
        "README's Tracking section); off by default",
    )


class EmailBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailCreate] = Field(min_length=1)


class BatchAccepted(BaseModel):
    ids: list[int]


class AttemptPublic(BaseModel):
    number: int
    at: datetime
    account: str
    smtp_code: int | None
    smtp_reply: str | None
    duration_ms: int
    outcome: str
    error_type: str | None


class EmailPublic(BaseModel):
    id: int
    status: Status
    to_email: str
    cc_emails: list[str]
    bcc_emails: list[str]
    from_email: str
    subject: str
    priority: Priority
    scheduled_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    retry_count: int
    max_retries: int
    error_message: str | None
    error_type: str | None
    message_id: str
    account: str
    source: str
    attempts: list[AttemptPublic] | None = None


class EmailEventPublic(BaseModel):
    """One step of a message's history."""

    type: str = Field(
        description="queued, held, approved, sent, deferred, failed, dead, requeued, recovered, "
        "suppressed, cancelled, bounce_hard, bounce_soft, complained, unsubscribed"
    )
    at: datetime
    detail: str | None = Field(
        None, description="a short summary; server replies and diagnostics are quoted as received"
    )


class DeliveryReport(BaseModel):
    """The latest bounce or complaint reported for a message after it left."""

    status: Literal["bounced", "complained"]
    reported_at: datetime
    smtp_status: str | None = Field(description="the enhanced status code, e.g. 5.1.1")
    diagnostic: str | None = Field(
        description="the report's Diagnostic-Code or feedback type, as the remote side wrote it "
        "(untrusted text)"
    )
    recipient: str | None


class EmailDetail(EmailPublic):
    """One message with what happened to it: attempts, events (oldest first), delivery."""

    events: list[EmailEventPublic]
    delivery: DeliveryReport | None


class EmailPage(BaseModel):
    items: list[EmailPublic]
    total: int
    limit: int
    offset: int


class MCPEmailRequest(BaseModel):
    """The seed's agent payload (`POST /emails/mcp`)."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] | str
    subject: str = Field(max_length=500)
    body: str
    cc: AddressList = None
    bcc: AddressList = None
    html: str | None = None
    priority: Priority = "normal"


class ChannelSendRequest(BaseModel):
    """The seed's channel payload (`POST /mcp/email/send`)."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] | str
    subject: str = Field("", max_length=500)
    body: str = ""
    html: str | None = None
    templateId: str | None = None
    variables: dict[str, Any] | None = None


class ChannelSendResult(BaseModel):
    messageId: str
    status: Literal["sent", "failed", "queued", "held"]
    error: str | None = None
    id: int


class QueueStats(BaseModel):
    counts: dict[str, int]
    oldest_pending_age_seconds: float | None
    sent_last_minute: int
    sent_last_hour: int


class RequeueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowId] | None = Field(None, max_length=1000)
    error_type: str | None = None


class RequeueResult(BaseModel):
    requeued: int
    ids: list[int]

"""Input and output shapes of the MCP tools that the service schemas do not already give."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from carteiro.accounts.schemas import AccountPublic
from carteiro.mcp.toolkit import LocalTimes
from carteiro.outbound.schemas import EmailDetail, EmailPublic, QueueStats

SERVER_TIME = "the server's current time (UTC): compare scheduled_at and send_at with it"


class AttachmentInput(BaseModel):
    """One file to attach, its bytes in base64."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1, max_length=255, description="name shown to the recipient, e.g. 'report.pdf'"
    )
    content_type: str = Field(
        "application/octet-stream",
        max_length=255,
        description="MIME type, e.g. 'application/pdf' or 'text/csv'",
    )
    content_base64: str = Field(description="the file's bytes, base64-encoded (standard alphabet)")


class SendEmailResult(EmailPublic):
    """The queued message (no body), whether it repeats an earlier call, and what happens next."""

    duplicate: bool = Field(
        description="true when idempotency_key matched an earlier message: nothing new was queued"
    )
    note: str = Field(description="what happens next, in one sentence")
    server_time: datetime = Field(description=SERVER_TIME)
    local: LocalTimes = Field(description="scheduled_at, sent_at, created_at in the caller's zone")


class EmailItem(EmailPublic):
    """A message of a list, with its times in the caller's zone."""

    local: LocalTimes = Field(description="scheduled_at, sent_at, created_at in the caller's zone")


class EmailList(BaseModel):
    """A page of messages, newest first."""

    items: list[EmailItem]
    total: int
    limit: int
    offset: int


class EmailResult(EmailDetail):
    """One message with its history, and its times in the caller's zone."""

    local: LocalTimes = Field(description="scheduled_at, sent_at, created_at in the caller's zone")


class QueueStatsResult(QueueStats):
    """The tenant's queue, and the server's time the ages are measured against."""

    server_time: datetime = Field(description=SERVER_TIME)


class AccountList(BaseModel):
    """The tenant's sending accounts; passwords are never included."""

    items: list[AccountPublic]

"""Public shapes of the responder: jobs, pages, the monitoring numbers, requeue results."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pending", "processing", "completed", "failed", "dead_letter"]


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int | None
    message_id: int = Field(description="the inbox message answered")
    thread_id: int
    mode: str = Field(description="review: the reply is held for a person; send: queued as is")
    status: JobStatus
    attempt_count: int
    max_attempts: int
    next_retry_at: datetime
    error_type: str | None = Field(
        description="rate_limit, timeout, refusal, bad_output, provider_error, send_refused, "
        "send_rate_limited or rule_unavailable"
    )
    error_message: str | None
    processing_time_ms: int | None
    tokens_used: int | None
    provider: str | None
    intent: str | None = Field(None, description="the model's reading, for rules that classify")
    urgency: str | None = None
    language: str | None = None
    draft: str | None = Field(description="the drafted text (the reply also quotes the original)")
    email_id: int | None = Field(description="the reply in the outbound queue (held or queued)")
    created_at: datetime
    completed_at: datetime | None


class JobPage(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int


class StatusCount(BaseModel):
    status: JobStatus
    count: int
    avg_processing_time_ms: float | None


class HourCount(BaseModel):
    hour: datetime = Field(description="the start of the hour (UTC)")
    processed: int
    completed: int


class ErrorCount(BaseModel):
    error_type: str
    count: int


class Percentiles(BaseModel):
    count: int = Field(description="completed jobs in the window")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ResponderStats(BaseModel):
    """The guide's monitoring queries: by status, per hour over 24 h, errors, percentiles."""

    statuses: list[StatusCount]
    per_hour: list[HourCount]
    errors: list[ErrorCount]
    processing_time: Percentiles
    window_hours: int


class RequeueResult(BaseModel):
    requeued: int
    ids: list[int]


class Suggestion(BaseModel):
    """The AI responder's reply to one inbox message, as the inbox page shows it."""

    job_id: int
    job_status: JobStatus
    error_type: str | None
    email_id: int | None
    email_status: str | None = Field(description="held: waiting for a person's approval")
    body: str | None = Field(description="the drafted reply (without the quoted original)")
    intent: str | None = None
    urgency: str | None = None
    language: str | None = None

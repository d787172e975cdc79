"""Responder tables: one durable job per message handed to the model, and token budgets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, UTCDateTime, utcnow

STATUSES = ("pending", "processing", "completed", "failed", "dead_letter")


class ResponderJob(TimestampMixin, Base):
    """An incoming message a rule handed to the AI responder: a leased queue row with retries.

    `failed` is final for this try (the model refused, the key may not send there),
    `dead_letter` means retries ran out; both can be requeued."""

    __tablename__ = "responder_jobs"
    __table_args__ = (
        UniqueConstraint("rule_id", "message_id", name="uq_responder_jobs_rule_message"),
        Index("ix_responder_jobs_due", "status", "next_retry_at"),
        Index("ix_responder_jobs_tenant_status", "tenant_id", "status"),
        Index("ix_responder_jobs_tenant_completed", "tenant_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_rules.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE"), index=True, nullable=False
    )
    thread_id: Mapped[int] = mapped_column(BigIntPK, nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="review")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    next_retry_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    processing_time_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_used: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the model read in the message (rules with classify on): None when it did not say.
    intent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    urgency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The drafted text alone (the queued reply also quotes the original below it).
    draft: Mapped[str | None] = mapped_column(Text, nullable=True)
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), nullable=True
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ResponderBudget(Base):
    """A tenant's token bucket for one model provider, shared by every worker process."""

    __tablename__ = "responder_budgets"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

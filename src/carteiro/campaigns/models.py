"""Campaign tables: segments, layouts, campaigns, variants, the recipients ledger, A/B, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

STATUSES = (
    "draft",
    "awaiting_approval",
    "scheduled",
    "preparing",
    "sending",
    "testing",
    "awaiting_winner",
    "paused",
    "finished",
    "cancelled",
)
RECIPIENT_STATUSES = ("pending", "queued", "sent", "failed", "skipped", "cancelled")
FORMATS = ("html", "markdown", "text", "mjml")
# The counters a campaign and each of its variants carry (incremented, never recounted).
COUNTERS = (
    "audience_total",
    "skipped",
    "queued",
    "sent",
    "failed",
    "bounced_hard",
    "bounced_soft",
    "complained",
    "unsubscribed",
    "opened_unique",
    "opened_human_unique",
    "clicked_unique",
    "replied",
)


class Counters:
    audience_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    queued: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bounced_hard: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bounced_soft: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    complained: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    opened_unique: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    opened_human_unique: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clicked_unique: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Segment(TimestampMixin, Base):
    """A saved audience: an AND/OR tree over lead data, or an explicit list of leads."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_segments_tenant_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # {"kind": "rules", "rule": {...}} or {"kind": "static", "lead_ids": [...]}.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class CampaignTemplate(TimestampMixin, Base):
    """A layout: a shell with exactly one `{{ content }}` slot that wraps a campaign's body."""

    __tablename__ = "campaign_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_campaign_templates_tenant_name"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False, default="html")
    body: Mapped[str] = mapped_column(Text, nullable=False)


class Campaign(Counters, TimestampMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_tenant_status", "tenant_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="draft")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Where resume returns a paused campaign to (sending, testing, ...).
    paused_from: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_by_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Audience.
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), nullable=True
    )
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Sender: an exact address or "@domain" routed through the pool, or one account.
    from_route: Mapped[str | None] = mapped_column(String(320), nullable=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    reply_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Links through the tracker and an open pixel (the tenant's anonymous mode still applies).
    track: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_templates.id", ondelete="SET NULL"), nullable=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Schedule.
    send_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="now")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    window_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    weekdays: Mapped[list[int] | None] = mapped_column(JSONType, nullable=True)
    default_tz: Mapped[str] = mapped_column(String(64), nullable=False, default="America/Sao_Paulo")
    pool_share: Mapped[float] = mapped_column(Float, nullable=False, default=0.8)
    horizon_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    # Guards.
    max_hard_bounce_rate: Mapped[float] = mapped_column(Float, nullable=False, default=0.05)
    max_complaint_rate: Mapped[float] = mapped_column(Float, nullable=False, default=0.003)
    max_failure_rate: Mapped[float] = mapped_column(Float, nullable=False, default=0.2)
    warnings: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    # A/B (ab_enabled false: one variant gets everyone).
    ab_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ab_test_fraction: Mapped[float] = mapped_column(Float, nullable=False, default=0.2)
    ab_metric: Mapped[str] = mapped_column(String(16), nullable=False, default="clicks")
    ab_wait_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=4 * 3600)
    ab_min_per_variant: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    ab_confidence: Mapped[float] = mapped_column(Float, nullable=False, default=0.95)
    ab_fallback: Mapped[str] = mapped_column(String(16), nullable=False, default="control")
    ab_seed: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    ab_last_test_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    winner_variant_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    # Materialisation: the last lead id inserted into the ledger (resumable after a kill).
    cursor_lead_id: Mapped[int] = mapped_column(BigIntPK, nullable=False, default=0)
    prepared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lint: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class CampaignVariant(Counters, Base):
    __tablename__ = "campaign_variants"
    __table_args__ = (
        UniqueConstraint("campaign_id", "label", name="uq_campaign_variants_campaign_label"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    preheader: Mapped[str | None] = mapped_column(String(500), nullable=True)
    format: Mapped[str] = mapped_column(String(16), nullable=False, default="html")
    content: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Layout + MJML/Markdown compiled once: still a Jinja template, rendered per recipient.
    compiled_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    compiled_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    compiled_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CampaignRecipient(Base):
    """The ledger: one row per (campaign, address), and the queue message that carries it."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "address", name="uq_campaign_recipients_campaign_address"),
        UniqueConstraint("email_id", name="uq_campaign_recipients_email_id"),
        Index("ix_campaign_recipients_plan", "campaign_id", "status", "due_at", "id"),
        Index("ix_campaign_recipients_lead", "lead_id"),
        Index("ix_campaign_recipients_tenant_address", "tenant_id", "address"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    lead_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    address: Mapped[str] = mapped_column(String(320), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    skip_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    variant_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    # "all", "test" (A/B test set) or "remainder" (waits for the winner).
    phase: Mapped[str] = mapped_column(String(16), nullable=False, default="all")
    tz: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tz_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), nullable=True
    )
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_human_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    opens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    machine_opens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_click_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clicks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    complained_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AbDecision(Base):
    """The one decision of an A/B campaign: unique per campaign, so two deciders decide once."""

    __tablename__ = "campaign_ab_decisions"
    __table_args__ = (UniqueConstraint("campaign_id", name="uq_campaign_ab_decisions_campaign_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    variant_id: Mapped[int] = mapped_column(BigIntPK, nullable=False)
    metric: Mapped[str] = mapped_column(String(16), nullable=False)
    # "auto" (significant), "fallback" or "manual".
    decided_by: Mapped[str] = mapped_column(String(200), nullable=False)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    per_variant: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class CampaignStatHour(Base):
    """Hourly buckets for charts, incremented as things happen."""

    __tablename__ = "campaign_stats_hourly"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "variant_id", "bucket", name="uq_campaign_stats_hourly_bucket"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    variant_id: Mapped[int] = mapped_column(BigIntPK, nullable=False, default=0)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    opened: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clicked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bounced: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

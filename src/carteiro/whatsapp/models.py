"""WhatsApp tables: a tenant's numbers, its template registry, service windows, raw webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

PROVIDERS = ("cloud", "evolution")
NUMBER_STATUSES = ("active", "paused")


class WhatsAppNumber(Base):
    """A sending number: Cloud API (phone-number id) or an Evolution instance; secrets encrypted."""

    __tablename__ = "whatsapp_numbers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_whatsapp_numbers_tenant_name"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    provider: Mapped[str] = mapped_column(String(16), nullable=False, default="cloud")
    # Cloud API: the Graph phone-number id; Evolution: the instance name.
    phone_number_id: Mapped[str] = mapped_column(String(128), nullable=False)
    display_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    token_enc: Mapped[str] = mapped_column(Text, nullable=False)
    app_secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    verify_token_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Sends per second for the number (Meta's default 80) and the pause between two messages
    # to the same person (Meta's pair limit, about one per 6 s).
    rate_per_second: Mapped[float] = mapped_column(Float, nullable=False, default=80.0)
    pair_interval_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=6.0)
    # The next free send slot: workers in any process reserve slots by moving it forward.
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Meta's 130429 (throttled) cuts the rate to this share of rate_per_second, from which it
    # recovers gradually after throttled_at (see whatsapp.throttle).
    throttle_factor: Mapped[float] = mapped_column(
        Float, nullable=False, default=1.0, server_default=text("1")
    )
    throttled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fallback_template: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class WhatsAppTemplate(Base):
    """An approved template as registered locally: variables are checked against `params`."""

    __tablename__ = "whatsapp_templates"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "name", "language", name="uq_whatsapp_templates_tenant_name_lang"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False, default="pt_BR")
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="UTILITY")
    param_format: Mapped[str] = mapped_column(String(16), nullable=False, default="named")
    # [{"name": "nome", "required": true}, ...] in body order.
    params: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    # The approved body text ({{nome}} or {{1}}), rendered locally for gateways and previews.
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class WhatsAppWindow(Base):
    """When a person last wrote to a number: free text is allowed for 24 hours after it."""

    __tablename__ = "whatsapp_windows"

    number_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"), primary_key=True
    )
    wa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    last_inbound_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class WhatsAppWebhook(Base):
    """A webhook body as received (signature already checked), processed later by a loop."""

    __tablename__ = "whatsapp_webhooks"
    __table_args__ = (Index("ix_whatsapp_webhooks_pending", "processed_at", "lease_until"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    number_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class WhatsAppInbound(Base):
    """A message a person sent to one of the tenant's numbers (joins the lead's timeline)."""

    __tablename__ = "whatsapp_inbound"
    __table_args__ = (
        UniqueConstraint("number_id", "wamid", name="uq_whatsapp_inbound_number_wamid"),
        Index("ix_whatsapp_inbound_tenant_lead", "tenant_id", "lead_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    number_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"), nullable=False
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="SET NULL"), nullable=True
    )
    wa_id: Mapped[str] = mapped_column(String(32), nullable=False)
    wamid: Mapped[str] = mapped_column(String(255), nullable=False)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

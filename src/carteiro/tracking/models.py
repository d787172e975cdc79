"""Tracking tables: the tracked messages with their links, the raw hits, tenant choices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow


class TrackedMessage(Base):
    """One tracked message: its unguessable token and the URLs its links stand for."""

    __tablename__ = "tracked_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    token: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    # NULL in anonymous mode: no hit can be traced back to a recipient.
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True, nullable=True
    )
    # The campaign the message belongs to, if any (campaigns keep their own tables).
    campaign_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    urls: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # The index of the hidden link no person can click (security scanners follow it).
    trap: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class TrackingHit(Base):
    """One request to the tracker, written as it arrives and classified a few seconds later."""

    __tablename__ = "tracking_hits"
    __table_args__ = (
        Index("ix_tracking_hits_unclassified", "hit_class", "id"),
        Index("ix_tracking_hits_message_at", "tracked_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    tracked_id: Mapped[int] = mapped_column(
        ForeignKey("tracked_messages.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # open, click, trap
    link: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # A keyed hash of the client's /24 (IPv4) or /48 (IPv6) network; never the address.
    network: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # NULL until classified: human, apple_proxy, gmail_prefetch, scanner, bot_ua.
    hit_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TrackingTenant(Base):
    """A tenant's tracking choices: anonymous mode keeps only aggregate counts."""

    __tablename__ = "tracking_tenants"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

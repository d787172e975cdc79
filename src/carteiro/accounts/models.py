"""Mail accounts: SMTP (and later IMAP) settings, limits, health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime
from carteiro.mail.transports.smtp import Security


class Account(TimestampMixin, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_accounts_tenant_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)

    smtp_host: Mapped[str] = mapped_column(String(255), nullable=False)
    smtp_port: Mapped[int] = mapped_column(Integer, nullable=False)
    smtp_security: Mapped[Security] = mapped_column(String(16), nullable=False, default="starttls")
    smtp_username: Mapped[str | None] = mapped_column(String(320), nullable=True)
    smtp_password_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    smtp_verify_tls: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    smtp_ca_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    # IMAP settings arrive with inbox sync; the password inside is encrypted like SMTP's.
    imap: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_connections: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    warmup: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    weight: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Circuit breaker: consecutive connection failures or 4xx replies, and the cool-down they
    # triggered (the account stays active but gets no mail until then).
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A spam/policy rejection stops bulk (campaign, batch) mail on the account for a while;
    # transactional mail keeps flowing.
    bulk_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_health_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dns_status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AccountUsage(Base):
    """Messages claimed for an account in one fixed window (minute, hour or day, UTC).

    Counters are taken inside the claim transaction, so limits hold across all workers."""

    __tablename__ = "account_usage"
    __table_args__ = (
        UniqueConstraint("account_id", "window", "window_start", name="uq_account_usage_window"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    window: Mapped[str] = mapped_column(String(8), nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ConnectionLease(Base):
    """One of an account's `max_connections` SMTP connection slots, held by one worker.

    Workers take slots in the claim transaction and renew them with their message leases, so
    the connections open to one account stay within its limit across every worker; a slot
    whose worker died frees itself when its lease expires."""

    __tablename__ = "connection_leases"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class AccountCheck(Base):
    """The last DNS report and the health-check streak of one account."""

    __tablename__ = "account_checks"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    dns_report: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    dns_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    health_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    health_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    health_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set when the health job paused the account, so only the job's own pause is undone.
    paused_by_health: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

"""Outbound tables: the queue row per message, its attachments, attempts and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

PRIORITIES = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}
LANE_TRANSACTIONAL = 0
LANE_BULK = 1
STATUSES = ("pending", "held", "sending", "sent", "failed", "dead", "cancelled", "suppressed")


class Email(TimestampMixin, Base):
    __tablename__ = "emails"
    __table_args__ = (
        # Per key: another key repeating an Idempotency-Key must not get this key's message.
        UniqueConstraint(
            "tenant_id", "api_key_id", "idempotency_key", name="uq_emails_key_idempotency"
        ),
        # The claim walks one exact range of these per open account (pinned mail; 0: the
        # capture transport's) and per tenant (pool mail), each already in claim order. The
        # terms are expressions so that no other index can serve the claim (outbound.claim).
        Index(
            "ix_emails_claim_pinned",
            text("coalesce(account_id, 0)"),
            "lane",
            "priority",
            "run_at",
            "id",
            postgresql_where=text("coalesce(status, '') = 'pending' AND account_pinned"),
            sqlite_where=text("coalesce(status, '') = 'pending' AND account_pinned = 1"),
        ),
        Index(
            "ix_emails_claim_pool",
            text("coalesce(tenant_id, 0)"),
            "lane",
            "priority",
            "run_at",
            "id",
            postgresql_where=text("coalesce(status, '') = 'pending' AND NOT account_pinned"),
            sqlite_where=text("coalesce(status, '') = 'pending' AND account_pinned = 0"),
        ),
        Index("ix_emails_lease", "status", "lease_until"),
        Index("ix_emails_tenant_status_created", "tenant_id", "status", "created_at"),
        Index("ix_emails_key_created", "api_key_id", "created_at"),
        # A lead's page: mail to one address by exact (lower-cased) To line; mail to several
        # To addresses through a partial index of its own (few rows, read newest first).
        Index("ix_emails_tenant_to", "tenant_id", text("lower(to_email)"), "created_at"),
        Index(
            "ix_emails_tenant_multi_to",
            "tenant_id",
            "created_at",
            postgresql_where=text("to_email LIKE '%,%'"),
            sqlite_where=text("to_email LIKE '%,%'"),
        ),
        # Mail of some accounts (a person granted some mailboxes): the queue's counts per
        # status from this index alone; it also serves lookups by account.
        Index("ix_emails_account_status", "account_id", "status", "tenant_id"),
        # The dashboard's "sent in the last minute / hour" reads a range of sent rows only
        # (status in it too: with fewer equal terms, ix_emails_tenant_status_created won).
        # The dead-letter queue by error type (the requeue form) from this index alone, also
        # for a person granted some mailboxes.
        Index(
            "ix_emails_tenant_dead_error",
            "tenant_id",
            "error_type",
            "account_id",
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
        Index(
            "ix_emails_tenant_sent",
            "tenant_id",
            "status",
            "sent_at",
            postgresql_where=text("status = 'sent'"),
            sqlite_where=text("status = 'sent'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    # NULL account: the capture transport delivers it.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    # False: the account pool may route it to any healthy account with budget at claim time.
    account_pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Pool routing constraint: an exact from-address or "@domain".
    route_from: Mapped[str | None] = mapped_column(String(320), nullable=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    lane: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=LANE_TRANSACTIONAL)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=2)

    from_email: Mapped[str] = mapped_column(String(320), nullable=False)
    # A display name chosen for this message (a campaign variant's); NULL: the account's,
    # also when the pool moves the message to another account.
    from_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    to_email: Mapped[str] = mapped_column(Text, nullable=False)
    to_emails: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    cc_emails: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    bcc_emails: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    reply_to: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    body: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    html_body: Mapped[str | None] = deferred(mapped_column(Text, nullable=True))
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    message_id: Mapped[str] = mapped_column(String(255), index=True, nullable=False)
    # raw, body and html_body are compressed with lz4 on PostgreSQL (migration 0022).
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    size: Mapped[int] = mapped_column(Integer, nullable=False)

    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, nullable=True)

    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_code: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EmailAttachment(Base):
    """Attachment metadata; the bytes live inside the stored raw message."""

    __tablename__ = "email_attachments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True, nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    file_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    file_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class EmailAttempt(Base):
    """One delivery try: when, through which account, what the server answered."""

    __tablename__ = "email_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True, nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    account: Mapped[str] = mapped_column(String(100), nullable=False)
    worker: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    smtp_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    smtp_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(32), nullable=True)


class EmailEvent(Base):
    """What happened to a message, in order (queued, sent, deferred, dead, …)."""

    __tablename__ = "email_events"
    # The dashboard counts a tenant's events of the last hours by type (from the index alone).
    __table_args__ = (
        Index("ix_email_events_tenant_created_type", "tenant_id", "created_at", "type"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True, nullable=False
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class DkimKey(TimestampMixin, Base):
    """A DKIM key pair for one sending domain; the private key is encrypted with the vault."""

    __tablename__ = "dkim_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "domain", "selector", name="uq_dkim_keys_tenant_domain_sel"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    selector: Mapped[str] = mapped_column(String(63), nullable=False)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False, default="rsa-sha256")
    bits: Mapped[int] = mapped_column(Integer, nullable=False)
    private_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # base64 of the DER SubjectPublicKeyInfo: exactly the p= tag of the DNS record.
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

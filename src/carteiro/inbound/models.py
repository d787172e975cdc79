"""Inbox tables: folders, threads, messages, participants, attachments, rules and sync leases."""

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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow


class InboxFolder(TimestampMixin, Base):
    """One IMAP mailbox of an account and where its incremental sync stands."""

    __tablename__ = "inbox_folders"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_inbox_folders_account_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    # Decoded from modified UTF-7; the IMAP client encodes it again on the wire.
    name: Mapped[str] = mapped_column(String(1000), nullable=False)
    delimiter: Mapped[str | None] = mapped_column(String(4), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    selectable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sync_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    present: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    highest_modseq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class InboxThread(TimestampMixin, Base):
    """A conversation: messages joined by Message-ID, In-Reply-To, References or subject."""

    __tablename__ = "inbox_threads"
    __table_args__ = (
        Index("ix_inbox_threads_tenant_last", "tenant_id", "last_message_at"),
        Index("ix_inbox_threads_account_subject", "account_id", "subject_key"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The subject without Re:/Fwd: prefixes, lower-cased: the fallback thread key.
    subject_key: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    snippet: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    participants: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    first_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    has_attachments: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # No foreign key: leads may live in a table this schema does not know.
    lead_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)


class InboxThreadKey(Base):
    """Every Message-ID a thread contains or references, so late parents and children join it."""

    __tablename__ = "inbox_thread_keys"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_threads.id", ondelete="CASCADE"), index=True, nullable=False
    )


class InboxMessage(TimestampMixin, Base):
    """One message: a copy in an IMAP folder, or one of Carteiro's own outbound messages."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("folder_id", "uid", name="uq_inbox_messages_folder_uid"),
        Index("ix_inbox_messages_account_message_id", "account_id", "message_id"),
        Index("ix_inbox_messages_thread_date", "thread_id", "date"),
        # Folder totals and unread counts without reading the (large) rows.
        Index("ix_inbox_messages_folder_seen", "folder_id", "seen"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_threads.id", ondelete="CASCADE"), nullable=False
    )
    # NULL folder: an outbound message not (yet) seen in any IMAP folder.
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_folders.id", ondelete="CASCADE"), nullable=True
    )
    uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    direction: Mapped[str] = mapped_column(String(8), nullable=False, default="in")
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), index=True, nullable=True
    )
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="normal")
    related_email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), index=True, nullable=True
    )
    reply_to_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="SET NULL"), nullable=True
    )
    # pending → done | skipped | failed: copying our sent message into the Sent folder.
    sent_copy: Mapped[str | None] = mapped_column(String(12), index=True, nullable=True)

    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reference_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    subject: Mapped[str] = mapped_column(Text, nullable=False, default="")
    from_address: Mapped[str] = mapped_column(String(320), index=True, nullable=False, default="")
    from_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    to_addresses: Mapped[list[dict[str, str]]] = mapped_column(JSONType, nullable=False)
    cc_addresses: Mapped[list[dict[str, str]]] = mapped_column(JSONType, nullable=False)
    reply_to: Mapped[list[dict[str, str]]] = mapped_column(JSONType, nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    date: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    internal_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    seen: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    draft: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    keywords: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)

    snippet: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    text_body: Mapped[str] = deferred(mapped_column(Text, nullable=False, default=""))
    html_body: Mapped[str | None] = deferred(mapped_column(Text, nullable=True))
    has_attachments: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    defects: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    lead_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)


class InboxRaw(Base):
    """The message exactly as fetched, gzip-compressed; kept apart so listings stay lean."""

    __tablename__ = "inbox_raw"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE"), primary_key=True
    )
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class InboxParticipant(Base):
    """An address on a message (from, to, cc, reply_to), linked to a lead when one matches."""

    __tablename__ = "inbox_participants"
    __table_args__ = (Index("ix_inbox_participants_tenant_email", "tenant_id", "email"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE"), index=True, nullable=False
    )
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_threads.id", ondelete="CASCADE"), index=True, nullable=False
    )
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lead_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)


class InboxAttachment(Base):
    """An attachment's metadata; its bytes live in storage under their SHA-256."""

    __tablename__ = "inbox_attachments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE"), index=True, nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(100), nullable=False)
    content_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    inline: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class InboxRule(TimestampMixin, Base):
    """An automatic reply: when an incoming message matches, answer once per thread."""

    __tablename__ = "inbox_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # NULL: every account of the tenant.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    match: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    responder: Mapped[str] = mapped_column(String(32), nullable=False, default="template")
    template: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # Replies go out as this key, under its allow-list, review mode and rate limit.
    # NULL: the key was deleted (or the rule predates keys on rules), and the rule does not send.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    # Why the rule last failed to answer a matching message, and when.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InboxAutoReply(Base):
    """One automatic reply sent for a rule in a thread (never a second one)."""

    __tablename__ = "inbox_auto_replies"
    __table_args__ = (
        UniqueConstraint("rule_id", "thread_id", name="uq_inbox_auto_replies_rule_thread"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_rules.id", ondelete="CASCADE"), nullable=False
    )
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_threads.id", ondelete="CASCADE"), index=True, nullable=False
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="CASCADE"), index=True, nullable=False
    )
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), index=True, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class InboxLease(Base):
    """A named, expiring lock row (SQLite has no advisory locks)."""

    __tablename__ = "inbox_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


__all__ = [
    "InboxAttachment",
    "InboxAutoReply",
    "InboxFolder",
    "InboxLease",
    "InboxMessage",
    "InboxParticipant",
    "InboxRaw",
    "InboxRule",
    "InboxThread",
    "InboxThreadKey",
]

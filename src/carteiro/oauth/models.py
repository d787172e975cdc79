"""OAuth tables: registered clients, grants from request to approved code to issued key, and
the grants' refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base, TimestampMixin
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow


class OAuthClient(TimestampMixin, Base):
    """A client that registered itself (RFC 7591): its metadata as it was accepted."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class OAuthGrant(TimestampMixin, Base):
    """One authorization: requested by a client, approved by a person (a code), exchanged once.

    `request_id` names it in the consent page's URL; the code is stored as a hash; the key it
    maps to is created on approval and handed over, encrypted until then, at the exchange."""

    __tablename__ = "oauth_grants"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True, nullable=False
    )
    # requested → approved → exchanged → revoked, or denied.
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="requested")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    exchanged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Seconds since the epoch the code stops working: the SDK compares floats.
    code_expires: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OAuthRefreshToken(Base):
    """One refresh token of a grant (its family), stored as a hash. Using it rotates it: it
    becomes `rotated` and a new one (and a new access key) is issued; presenting a rotated one
    again means it leaked, so the whole family and its keys are revoked."""

    __tablename__ = "oauth_refresh_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_grants.request_id", ondelete="CASCADE"), index=True, nullable=False
    )
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # The access key issued with this token: the one a rotation replaces.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    # active → rotated (used once) | revoked.
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

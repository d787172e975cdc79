"""People's web sessions: stored hashed in the database, so they survive restarts and can be
revoked one by one or all at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import NotFound
from carteiro.tenancy.models import User, WebSession

# How stale `last_seen_at` may get before a request writes it again.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    absolute: timedelta = timedelta(hours=168)
    idle: timedelta = timedelta(hours=12)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    session: Session,
    *,
    user: User,
    lifetime: Lifetime,
    user_agent: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> tuple[WebSession, str]:
    """A new session and the cookie's value (shown to the browser only; its hash is stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = WebSession(
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_hash=_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime.absolute,
        user_agent=(user_agent or "")[:300] or None,
        ip=(ip or "")[:64] or None,
    )
    session.add(row)
    session.flush()
    return row, token


def resolve(
    session: Session, *, token: str | None, lifetime: Lifetime, now: datetime | None = None
) -> tuple[WebSession, User] | None:
    """The live session for a cookie and its user; None when unknown, revoked, expired, idle
    too long, or the user is disabled."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _hash(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= now or user.disabled:
        return None
    if row.last_seen_at + lifetime.idle <= now:
        return None
    if row.last_seen_at <= now - SEEN_EVERY:
        # One write a minute at most, and never racing a revocation back to life.
        session.execute(
            update(WebSession)
            .where(WebSession.id == row.id, WebSession.revoked_at.is_(None))
            .values(last_seen_at=now),
            execution_options={"synchronize_session": False},
        )
    return row, user


def list_for(session: Session, *, user_id: int, now: datetime | None = None) -> list[WebSession]:
    """A user's sessions that are still live, newest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(WebSession)
        .where(
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
    )
    return list(rows)


def revoke(session: Session, *, user_id: int, session_id: int) -> WebSession:
    row = session.get(WebSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"session {session_id} not found", field="session")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def revoke_all(session: Session, *, user_id: int, except_id: int | None = None) -> int:
    """Ends every session of a user (but `except_id`); returns how many were live."""
    where = [WebSession.user_id == user_id, WebSession.revoked_at.is_(None)]
    if except_id is not None:
        where.append(WebSession.id != except_id)
    result = session.execute(
        update(WebSession).where(*where).values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)

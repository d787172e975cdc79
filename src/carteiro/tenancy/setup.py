"""The first-run setup link: a one-time token, stored hashed, that creates the owner."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import Conflict, NotFound
from carteiro.tenancy import people
from carteiro.tenancy.models import SetupToken, User


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, *, tenant_id: int, lifetime: timedelta, now: datetime | None = None
) -> str | None:
    """A fresh setup token while the tenant has no owner (None once it has one). Each call
    replaces the previous token, so only the link printed last works."""
    if people.owner_exists(session, tenant_id=tenant_id):
        return None
    now = now or utcnow()
    session.execute(
        update(SetupToken)
        .where(SetupToken.tenant_id == tenant_id, SetupToken.used_at.is_(None))
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    )
    token = secrets.token_urlsafe(24)
    session.add(SetupToken(tenant_id=tenant_id, token_hash=_hash(token), expires_at=now + lifetime))
    session.flush()
    return token


def find(session: Session, *, token: str, now: datetime | None = None) -> SetupToken | None:
    """The live token (unused, unexpired, its tenant still without an owner), or None."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.scalar(select(SetupToken).where(SetupToken.token_hash == _hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    if people.owner_exists(session, tenant_id=row.tenant_id):
        return None
    return row


def complete(
    session: Session, *, token: str, email: str, name: str, password: str, locale: str | None
) -> User:
    """Creates the owner with the token, which then stops working."""
    row = find(session, token=token)
    if row is None:
        raise NotFound("this setup link is unknown, used or expired", field="token")
    # The owner first: a form error must leave the token usable for the next try.
    owner = people.create(
        session,
        tenant_id=row.tenant_id,
        email=email,
        name=name,
        password=password,
        role="owner",
        locale=locale,
    )
    claimed = session.execute(
        update(SetupToken)
        .where(SetupToken.id == row.id, SetupToken.used_at.is_(None))
        .values(used_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    if not getattr(claimed, "rowcount", 0):
        raise Conflict("this setup link was used a moment ago", field="token")
    return owner

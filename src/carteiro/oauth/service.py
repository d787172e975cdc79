"""OAuth grants: a client registers, asks; a person approves (a key is made); the code is
exchanged once, within minutes, for that key as the Bearer access token, and a refresh token.

The access token is an ordinary API key (`ct_…`) with the scopes, allow-list and review mode
the person chose, so `/mcp` and the REST API check it exactly as any other key. It expires;
the refresh token renews it once (rotation: a new key and a new refresh token, the old key
revoked), and presenting a used refresh token again revokes the grant's whole family. Revoking
the key in the console, or either token at the revocation endpoint, ends the grant."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.oauth.models import OAuthClient, OAuthGrant, OAuthRefreshToken
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.service import Principal

REQUEST_MINUTES = 30
CODE_SECONDS = 300


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def register_client(session: Session, *, info: dict[str, Any]) -> None:
    session.add(
        OAuthClient(client_id=info["client_id"], client_name=info.get("client_name"), info=info)
    )


def get_client(session: Session, *, client_id: str) -> dict[str, Any] | None:
    row = session.get(OAuthClient, client_id)
    return dict(row.info) if row is not None else None


def create_request(session: Session, *, client_id: str, params: dict[str, Any]) -> str:
    """Stores what the client asked for; returns the id the consent page is opened with."""
    request_id = secrets.token_urlsafe(24)
    session.add(
        OAuthGrant(
            request_id=request_id,
            client_id=client_id,
            params=params,
            scopes=list(params.get("scopes") or []),
            expires_at=utcnow() + timedelta(minutes=REQUEST_MINUTES),
        )
    )
    return request_id


def pending(session: Session, *, request_id: str) -> tuple[OAuthGrant, dict[str, Any]]:
    """The grant waiting for a person's decision, and its client's metadata."""
    grant = session.get(OAuthGrant, request_id)
    if grant is None or grant.status != "requested" or grant.expires_at < utcnow():
        raise NotFound("this authorization request is unknown or has expired: start again")
    client = get_client(session, client_id=grant.client_id) or {}
    return grant, client


def approve(
    session: Session,
    *,
    request_id: str,
    creator: Principal,
    user_id: int | None,
    scopes: Sequence[str],
    allowed_recipients: Sequence[str] | None,
    review_mode: bool,
    default_rate_limit: int,
    vault: Vault,
) -> tuple[str, dict[str, Any]]:
    """Makes the key (a subset of the person's rights) and the code; returns (code, params)."""
    grant, client = pending(session, request_id=request_id)
    if not scopes:
        raise InvalidInput("choose at least one scope", field="scopes")
    name = f"oauth: {client.get('client_name') or grant.client_id}"[:200]
    key, plain = tenancy.create_key(
        session,
        tenant_id=creator.tenant_id,
        name=name,
        scopes=list(scopes),
        allowed_recipients=list(allowed_recipients) if allowed_recipients else None,
        review_mode=review_mode,
        creator=creator,
        default_rate_limit=default_rate_limit,
    )
    code = secrets.token_urlsafe(32)
    grant.status = "approved"
    grant.code_hash = _hash(code)
    grant.code_expires = int(utcnow().timestamp()) + CODE_SECONDS
    grant.tenant_id = creator.tenant_id
    grant.user_id = user_id
    grant.api_key_id = key.id
    grant.scopes = list(key.scopes)
    grant.key_enc = vault.encrypt(plain)
    return code, dict(grant.params)


def deny(session: Session, *, request_id: str) -> dict[str, Any]:
    grant, _ = pending(session, request_id=request_id)
    grant.status = "denied"
    return dict(grant.params)


def load_code(session: Session, *, client_id: str, code: str) -> OAuthGrant | None:
    grant = session.scalar(select(OAuthGrant).where(OAuthGrant.code_hash == _hash(code)))
    if grant is None or grant.client_id != client_id or grant.status != "approved":
        return None
    return grant


@dataclass(frozen=True)
class Issued:
    """What the token endpoint hands over."""

    access_token: str
    expires_in: int
    refresh_token: str
    scopes: list[str]


@dataclass(frozen=True)
class Refusal:
    """Why a refresh was refused; returned, not raised, so a family revocation it caused is
    committed."""

    message: str


def _issue_refresh(
    session: Session, *, grant: OAuthGrant, api_key_id: int, scopes: list[str], days: int
) -> str:
    plain = secrets.token_urlsafe(32)
    session.add(
        OAuthRefreshToken(
            token_hash=_hash(plain),
            request_id=grant.request_id,
            client_id=grant.client_id,
            api_key_id=api_key_id,
            scopes=list(scopes),
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    return plain


def _expire_key(session: Session, *, key_id: int, seconds: int) -> None:
    key = session.get(ApiKey, key_id)
    if key is not None:
        key.expires_at = utcnow() + timedelta(seconds=seconds)


def exchange(
    session: Session,
    *,
    client_id: str,
    code: str,
    vault: Vault,
    access_seconds: int,
    refresh_days: int,
) -> Issued:
    """The key for a code, once (a second exchange of the same code is refused), from now on
    lasting `access_seconds`, and the grant's first refresh token."""
    grant = load_code(session, client_id=client_id, code=code)
    if grant is None or grant.key_enc is None or grant.api_key_id is None:
        raise Conflict("this authorization code was already used or is unknown")
    if (grant.code_expires or 0) < utcnow().timestamp():
        raise Conflict("this authorization code has expired")
    plain = vault.decrypt(grant.key_enc)
    grant.status = "exchanged"
    grant.key_enc = None
    grant.exchanged_at = utcnow()
    _expire_key(session, key_id=grant.api_key_id, seconds=access_seconds)
    scopes = list(grant.scopes)
    refresh = _issue_refresh(
        session, grant=grant, api_key_id=grant.api_key_id, scopes=scopes, days=refresh_days
    )
    return Issued(plain, access_seconds, refresh, scopes)


def load_refresh(session: Session, *, client_id: str, token: str) -> OAuthRefreshToken | None:
    """The client's usable refresh token, or None. A rotated one presented again has leaked
    (or the client lost track): the grant's family is revoked, and None."""
    row = session.scalar(
        select(OAuthRefreshToken).where(OAuthRefreshToken.token_hash == _hash(token))
    )
    if row is None or row.client_id != client_id:
        return None
    if row.status == "rotated":
        revoke_family(session, request_id=row.request_id)
        return None
    return row if row.status == "active" else None


def refresh(
    session: Session,
    *,
    client_id: str,
    token: str,
    scopes: Sequence[str],
    access_seconds: int,
    refresh_days: int,
) -> Issued | Refusal:
    """Rotates a refresh token: a new key with the old one's rights (`scopes` may narrow
    them), the old key revoked, a new refresh token; the used one never works again."""
    row = session.scalar(
        select(OAuthRefreshToken).where(OAuthRefreshToken.token_hash == _hash(token))
    )
    if row is None or row.client_id != client_id:
        return Refusal("this refresh token is unknown")
    # Claimed with a conditional UPDATE, so two concurrent refreshes cannot both rotate it.
    claimed = session.execute(
        update(OAuthRefreshToken)
        .where(OAuthRefreshToken.id == row.id, OAuthRefreshToken.status == "active")
        .values(status="rotated", used_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    if getattr(claimed, "rowcount", 0) != 1:
        revoke_family(session, request_id=row.request_id)
        return Refusal("this refresh token was already used: the grant is revoked")
    grant = session.get(OAuthGrant, row.request_id)
    old = session.get(ApiKey, row.api_key_id) if row.api_key_id is not None else None
    if grant is None or grant.tenant_id is None or old is None or old.revoked_at is not None:
        # The key was revoked (in the console, or by revocation): the grant is over.
        revoke_family(session, request_id=row.request_id)
        return Refusal("this grant was revoked")
    kept = [s for s in row.scopes if s in set(scopes)] or list(row.scopes)
    key, plain = tenancy.create_key(
        session,
        tenant_id=grant.tenant_id,
        name=old.name,
        scopes=kept,
        allowed_recipients=old.allowed_recipients,
        review_mode=old.review_mode,
        rate_limit_per_hour=old.rate_limit_per_hour,
        own_messages_only=old.own_messages_only,
    )
    key.expires_at = utcnow() + timedelta(seconds=access_seconds)
    old.revoked_at = utcnow()
    grant.api_key_id = key.id
    new_refresh = _issue_refresh(
        session, grant=grant, api_key_id=key.id, scopes=list(key.scopes), days=refresh_days
    )
    return Issued(plain, access_seconds, new_refresh, list(key.scopes))


def revoke_family(session: Session, *, request_id: str) -> None:
    """Ends a grant: its refresh tokens and every key it issued stop working."""
    now = utcnow()
    rows = list(
        session.scalars(select(OAuthRefreshToken).where(OAuthRefreshToken.request_id == request_id))
    )
    key_ids = {r.api_key_id for r in rows if r.api_key_id is not None}
    grant = session.get(OAuthGrant, request_id)
    if grant is not None:
        if grant.api_key_id is not None:
            key_ids.add(grant.api_key_id)
        if grant.status == "exchanged":
            grant.status = "revoked"
    for r in rows:
        if r.status == "active":
            r.status = "revoked"
    if key_ids:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_(None))
            .values(revoked_at=now),
            execution_options={"synchronize_session": False},
        )


def grant_of_key(session: Session, *, api_key_id: int) -> OAuthGrant | None:
    """The grant that issued a key (its first key or one from a rotation), if any."""
    grant = session.scalar(select(OAuthGrant).where(OAuthGrant.api_key_id == api_key_id))
    if grant is not None:
        return grant
    request_id = session.scalar(
        select(OAuthRefreshToken.request_id).where(OAuthRefreshToken.api_key_id == api_key_id)
    )
    return session.get(OAuthGrant, request_id) if request_id is not None else None


def grant_of_access_token(session: Session, *, plain: str) -> OAuthGrant | None:
    """The grant that issued this access token (revoked or expired alike), if any."""
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == tenancy.hash_key(plain)))
    return grant_of_key(session, api_key_id=key_id) if key_id is not None else None

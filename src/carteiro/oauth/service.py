"""OAuth grants: a client registers, asks; a person approves (a key is made); the code is
exchanged once, within minutes, for that key as the Bearer access token.

The access token is an ordinary API key (`ct_…`) with the scopes, allow-list and review mode
the person chose, so `/mcp` and the REST API check it exactly as any other key, and revoking
the key in the console ends the grant."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.oauth.models import OAuthClient, OAuthGrant
from carteiro.tenancy import service as tenancy
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


def exchange(session: Session, *, client_id: str, code: str, vault: Vault) -> tuple[str, list[str]]:
    """The key for a code, once: a second exchange of the same code is refused."""
    grant = load_code(session, client_id=client_id, code=code)
    if grant is None or grant.key_enc is None:
        raise Conflict("this authorization code was already used or is unknown")
    if (grant.code_expires or 0) < utcnow().timestamp():
        raise Conflict("this authorization code has expired")
    plain = vault.decrypt(grant.key_enc)
    grant.status = "exchanged"
    grant.key_enc = None
    grant.exchanged_at = utcnow()
    return plain, list(grant.scopes)

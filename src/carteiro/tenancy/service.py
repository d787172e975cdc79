"""Tenants, API keys and the authenticated principal every interface passes to services."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from carteiro.outbound.addresses import matches_pattern
from carteiro.tenancy.models import ApiKey, Tenant
from carteiro.tenancy.scopes import ALL_SCOPES, EVERYTHING

KEY_PREFIX = "ct_"
DEFAULT_TENANT = "default"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the key and what the key may do."""

    tenant_id: int
    key_id: int | None
    key_name: str
    scopes: tuple[str, ...]
    allowed_recipients: tuple[str, ...] | None = None
    review_mode: bool = False
    rate_limit_per_hour: int | None = None

    def has(self, scope: str) -> bool:
        return EVERYTHING in self.scopes or scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope")

    def recipient_allowed(self, address: str) -> bool:
        if self.allowed_recipients is None:
            return True
        return any(matches_pattern(address, p) for p in self.allowed_recipients)


def hash_key(plain: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough and lets us look them up by hash.
    return hashlib.sha256(plain.encode()).hexdigest()


def principal_for(key: ApiKey) -> Principal:
    return Principal(
        tenant_id=key.tenant_id,
        key_id=key.id,
        key_name=key.name,
        scopes=tuple(key.scopes or ()),
        allowed_recipients=tuple(key.allowed_recipients)
        if key.allowed_recipients is not None
        else None,
        review_mode=key.review_mode,
        rate_limit_per_hour=key.rate_limit_per_hour,
    )


def get_tenant_by_slug(session: Session, *, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def get_tenant_by_slug_or_raise(session: Session, *, slug: str) -> Tenant:
    tenant = get_tenant_by_slug(session, slug=slug)
    if tenant is None:
        raise NotFound(f"tenant '{slug}' does not exist", field="tenant")
    return tenant


def create_tenant(session: Session, *, slug: str, name: str | None = None) -> Tenant:
    if not _SLUG.match(slug):
        raise InvalidInput(
            "tenant slug must be lower-case letters, digits, '-' or '_'", field="tenant"
        )
    if get_tenant_by_slug(session, slug=slug) is not None:
        raise Conflict(f"tenant '{slug}' already exists", field="tenant")
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    session.flush()
    return tenant


def validate_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = [s for s in scopes if s != EVERYTHING and s not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scope(s) {', '.join(unknown)}; known: *, {', '.join(ALL_SCOPES)}",
            field="scopes",
        )
    return list(dict.fromkeys(scopes)) or [EVERYTHING]


def create_key(
    session: Session,
    *,
    tenant_id: int,
    name: str,
    scopes: Sequence[str] = (EVERYTHING,),
    allowed_recipients: Sequence[str] | None = None,
    review_mode: bool = False,
    rate_limit_per_hour: int | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the plain secret, which is never stored."""
    if not name.strip():
        raise InvalidInput("a key needs a name", field="name")
    if rate_limit_per_hour is not None and rate_limit_per_hour < 0:
        raise InvalidInput("rate_limit_per_hour must be 0 (unlimited) or more", field="rate")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=tenant_id,
        name=name.strip(),
        prefix=plain[:10],
        key_hash=hash_key(plain),
        scopes=validate_scopes(scopes),
        allowed_recipients=list(allowed_recipients) if allowed_recipients is not None else None,
        review_mode=review_mode,
        rate_limit_per_hour=rate_limit_per_hour,
    )
    session.add(key)
    session.flush()
    return key, plain


def authenticate(session: Session, *, plain: str | None) -> Principal:
    """The principal for a presented key, or Unauthorized."""
    if not plain:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain.strip())))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    return principal_for(key)


def revoke_key(session: Session, *, tenant_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFound(f"API key {key_id} not found")
    key.revoked_at = utcnow()
    return key


def list_keys(session: Session, *, tenant_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id)))


def ensure_default_tenant(session: Session) -> tuple[Tenant, str | None]:
    """The default tenant; on the very first start also its first key (plain, shown once)."""
    tenant = get_tenant_by_slug(session, slug=DEFAULT_TENANT)
    if tenant is not None:
        return tenant, None
    try:
        with session.begin_nested():
            tenant = Tenant(slug=DEFAULT_TENANT, name="Default")
            session.add(tenant)
            session.flush()
    except IntegrityError:
        # Another process created it at the same moment; it printed the key.
        tenant = get_tenant_by_slug(session, slug=DEFAULT_TENANT)
        assert tenant is not None
        return tenant, None
    _, plain = create_key(session, tenant_id=tenant.id, name="first key")
    return tenant, plain

"""Tenants, API keys and the authenticated principal every interface passes to services."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from carteiro.mail.addresses import matches_pattern
from carteiro.tenancy import grants
from carteiro.tenancy.models import ApiKey, Tenant
from carteiro.tenancy.scopes import ADMIN, ALL_SCOPES, EVERYTHING
from carteiro.tenancy.scopes import effective as effective_scopes

KEY_PREFIX = "ct_"
DEFAULT_TENANT = "default"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# How stale `last_used_at` may get before a request writes it again.
LAST_USED_EVERY = timedelta(minutes=1)


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
    # Sees and manages only the messages this key created.
    own_messages_only: bool = False

    def has(self, scope: str) -> bool:
        return EVERYTHING in self.scopes or scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope")

    def recipient_allowed(self, address: str) -> bool:
        if self.allowed_recipients is None:
            return True
        return any(matches_pattern(address, p) for p in self.allowed_recipients)

    @property
    def actor(self) -> dict[str, object]:
        """Who did it, for the audit trail: the key's id (names repeat) and its name."""
        return {"by": self.key_name, "key_id": self.key_id}

    def excess(self, other: Principal, *, default_rate_limit: int) -> tuple[str, str] | None:
        """The field and what `other` may reach that this principal may not (None: a subset)."""
        extra = effective_scopes(other.scopes) - effective_scopes(self.scopes)
        if extra:
            return "scopes", f"scope(s) {', '.join(sorted(extra))}"
        if not grants.recipients_within(other.allowed_recipients, self.allowed_recipients):
            mine = ", ".join(self.allowed_recipients or ())
            return "allowed_recipients", f"recipients outside {mine}"
        if self.review_mode and not other.review_mode:
            return "review_mode", "mail that is not held for review"
        if self.own_messages_only and not other.own_messages_only:
            return "own_messages_only", "other keys' messages"
        own = grants.hourly_limit(self.rate_limit_per_hour, default_rate_limit)
        theirs = grants.hourly_limit(other.rate_limit_per_hour, default_rate_limit)
        if theirs > own:
            return "rate_limit_per_hour", f"more than {int(own)} recipients per hour"
        return None

    def require_covers(self, other: Principal, *, default_rate_limit: int, verb: str) -> None:
        """Forbidden unless `other` holds no right this principal lacks."""
        excess = self.excess(other, default_rate_limit=default_rate_limit)
        if excess is not None:
            field, what = excess
            raise Forbidden(
                f"this API key cannot {verb} a key that may reach {what}: a key only "
                "manages keys with no more rights than its own",
                field=field,
            )


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
        own_messages_only=_own_only(key.own_messages_only, key.review_mode, key.allowed_recipients),
    )


def _own_only(flag: bool, review_mode: bool, allowed: Sequence[str] | None) -> bool:
    # An agent (allow-list or review mode) must not read the rest of the tenant's outbox.
    return bool(flag or review_mode or allowed is not None)


def get_tenant(session: Session, *, tenant_id: int) -> Tenant | None:
    return session.get(Tenant, tenant_id)


def tenant_slugs(session: Session) -> dict[int, str]:
    """Every tenant's slug by id."""
    return {i: slug for i, slug in session.execute(select(Tenant.id, Tenant.slug))}


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
    if not scopes:
        raise InvalidInput("give at least one scope", field="scopes")
    return list(dict.fromkeys(scopes))


def create_key(
    session: Session,
    *,
    tenant_id: int,
    name: str,
    scopes: Sequence[str] = (EVERYTHING,),
    allowed_recipients: Sequence[str] | None = None,
    review_mode: bool = False,
    rate_limit_per_hour: int | None = None,
    own_messages_only: bool = False,
    creator: Principal | None = None,
    default_rate_limit: int = 0,
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the plain secret, which is never stored.

    With `creator` (a key making a key) it needs `admin` and yields only a subset of the
    creator's rights; `default_rate_limit` is what a key without its own limit gets.
    """
    if not name.strip():
        raise InvalidInput("a key needs a name", field="name")
    if rate_limit_per_hour is not None and rate_limit_per_hour < 0:
        raise InvalidInput("rate_limit_per_hour must be 0 (unlimited) or more", field="rate")
    allowed = list(allowed_recipients) if allowed_recipients is not None else None
    if allowed is not None and not all(p.strip() for p in allowed):
        raise InvalidInput("an allow-list pattern is empty", field="allowed_recipients")
    valid_scopes = validate_scopes(scopes)
    own_only = _own_only(own_messages_only, review_mode, allowed)
    if creator is not None:
        if creator.tenant_id != tenant_id:
            raise Forbidden("a key only creates keys of its own tenant", field="tenant")
        creator.require(ADMIN)
        wanted = Principal(
            tenant_id=tenant_id,
            key_id=None,
            key_name=name,
            scopes=tuple(valid_scopes),
            allowed_recipients=tuple(allowed) if allowed is not None else None,
            review_mode=review_mode,
            rate_limit_per_hour=rate_limit_per_hour,
            own_messages_only=own_only,
        )
        creator.require_covers(wanted, default_rate_limit=default_rate_limit, verb="create")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=tenant_id,
        name=name.strip(),
        prefix=plain[:10],
        key_hash=hash_key(plain),
        scopes=valid_scopes,
        allowed_recipients=allowed,
        review_mode=review_mode,
        rate_limit_per_hour=rate_limit_per_hour,
        own_messages_only=own_only,
    )
    session.add(key)
    session.flush()
    return key, plain


def authenticate(session: Session, *, plain: str | None) -> Principal:
    """The principal for a presented key, or Unauthorized; notes when the key was last used."""
    if not plain:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain.strip())))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise Unauthorized("this access token has expired: refresh it")
    _touch(session, key)
    return principal_for(key)


def _touch(session: Session, key: ApiKey) -> None:
    # At most one write per key and interval, so a busy key does not write on every request.
    now = utcnow()
    stale = now - LAST_USED_EVERY
    if key.last_used_at is not None and key.last_used_at > stale:
        return
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
        )
        .values(last_used_at=now),
        execution_options={"synchronize_session": False},
    )


def get_key(session: Session, *, tenant_id: int, key_id: int) -> ApiKey | None:
    """A key of the tenant, revoked or not."""
    key = session.get(ApiKey, key_id)
    return key if key is not None and key.tenant_id == tenant_id else None


def revoke_key(
    session: Session, *, principal: Principal, key_id: int, default_rate_limit: int = 0
) -> ApiKey:
    """Revokes a key of the caller's tenant: itself, or (with admin) one that is a subset."""
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != principal.tenant_id:
        raise NotFound(f"API key {key_id} not found")
    if key.id != principal.key_id:
        principal.require(ADMIN)
        principal.require_covers(
            principal_for(key), default_rate_limit=default_rate_limit, verb="revoke"
        )
    if key.revoked_at is None:
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

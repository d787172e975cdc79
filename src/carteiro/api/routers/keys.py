"""API keys of the caller's tenant (admin scope): create and revoke subsets of the caller, list."""

from __future__ import annotations

from datetime import datetime

from fastapi import status
from pydantic import BaseModel, ConfigDict, Field

from carteiro.api.deps import AdminKey, Caller, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.db.types import INT32_MAX
from carteiro.tenancy import service
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.scopes import DEFAULT_KEY_SCOPES

router = Router(prefix="/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_KEY_SCOPES),
        description="at least one; default: send and read e-mail",
    )
    allowed_recipients: list[str] | None = Field(
        None, description="patterns like *@example.com; null: any recipient"
    )
    review_mode: bool = False
    rate_limit_per_hour: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="recipients per rolling hour; 0: unlimited; null: the default",
    )
    own_messages_only: bool = Field(
        False,
        description="see and manage only the messages this key creates (always so with an "
        "allow-list or review mode)",
    )


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    allowed_recipients: list[str] | None
    review_mode: bool
    rate_limit_per_hour: int | None
    own_messages_only: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="shown once; only a hash is stored")


def _public(key: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=key.scopes,
        allowed_recipients=key.allowed_recipients,
        review_mode=key.review_mode,
        rate_limit_per_hour=key.rate_limit_per_hour,
        own_messages_only=key.own_messages_only,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, principal: AdminKey, rt: Rt, session: Tx) -> KeyCreated:
    key, plain = service.create_key(
        session,
        tenant_id=principal.tenant_id,
        name=body.name,
        scopes=body.scopes,
        allowed_recipients=body.allowed_recipients,
        review_mode=body.review_mode,
        rate_limit_per_hour=body.rate_limit_per_hour,
        own_messages_only=body.own_messages_only,
        creator=principal,
        default_rate_limit=rt.settings.email_rate_limit_per_hour,
    )
    return KeyCreated(**_public(key).model_dump(), key=plain)


@router.get("", response_model=list[KeyPublic])
def list_keys(principal: AdminKey, session: Tx) -> list[KeyPublic]:
    return [_public(k) for k in service.list_keys(session, tenant_id=principal.tenant_id)]


@router.delete("/{key_id}", response_model=KeyPublic)
def revoke_key(key_id: PathId, principal: Caller, rt: Rt, session: Tx) -> KeyPublic:
    """Any key may revoke itself; revoking another takes admin and a key that is a subset."""
    key = service.revoke_key(
        session,
        principal=principal,
        key_id=key_id,
        default_rate_limit=rt.settings.email_rate_limit_per_hour,
    )
    return _public(key)

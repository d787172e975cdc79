"""API keys of the caller's tenant (admin scope): create, list, revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from carteiro.api.deps import PathId, get_runtime, require
from carteiro.db.types import INT32_MAX
from carteiro.runtime import Runtime
from carteiro.tenancy import service
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.scopes import ADMIN
from carteiro.tenancy.service import Principal

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["*"])
    allowed_recipients: list[str] | None = Field(
        None, description="patterns like *@example.com; null: any recipient"
    )
    review_mode: bool = False
    rate_limit_per_hour: int | None = Field(None, ge=0, le=INT32_MAX)


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    allowed_recipients: list[str] | None
    review_mode: bool
    rate_limit_per_hour: int | None
    created_at: datetime
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
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
async def create_key(
    body: KeyCreate,
    principal: Principal = Depends(require(ADMIN)),
    rt: Runtime = Depends(get_runtime),
) -> KeyCreated:
    def _run() -> KeyCreated:
        with rt.db.session() as session:
            key, plain = service.create_key(
                session,
                tenant_id=principal.tenant_id,
                name=body.name,
                scopes=body.scopes,
                allowed_recipients=body.allowed_recipients,
                review_mode=body.review_mode,
                rate_limit_per_hour=body.rate_limit_per_hour,
            )
            return KeyCreated(**_public(key).model_dump(), key=plain)

    return await run_in_threadpool(_run)


@router.get("", response_model=list[KeyPublic])
async def list_keys(
    principal: Principal = Depends(require(ADMIN)), rt: Runtime = Depends(get_runtime)
) -> list[KeyPublic]:
    def _run() -> list[KeyPublic]:
        with rt.db.session() as session:
            return [_public(k) for k in service.list_keys(session, tenant_id=principal.tenant_id)]

    return await run_in_threadpool(_run)


@router.delete("/{key_id}", response_model=KeyPublic)
async def revoke_key(
    key_id: PathId,
    principal: Principal = Depends(require(ADMIN)),
    rt: Runtime = Depends(get_runtime),
) -> KeyPublic:
    def _run() -> KeyPublic:
        with rt.db.session() as session:
            return _public(
                service.revoke_key(session, tenant_id=principal.tenant_id, key_id=key_id)
            )

    return await run_in_threadpool(_run)

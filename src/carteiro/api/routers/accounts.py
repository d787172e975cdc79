"""Mail accounts: CRUD and a real login test."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status
from starlette.concurrency import run_in_threadpool

from carteiro.accounts import service
from carteiro.accounts.schemas import AccountCreate, AccountPublic, AccountTestResult, AccountUpdate
from carteiro.api.deps import PathId, get_runtime, require
from carteiro.runtime import Runtime
from carteiro.tenancy.scopes import ACCOUNTS_READ, ACCOUNTS_WRITE
from carteiro.tenancy.service import Principal

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.post(
    "", response_model=AccountPublic, status_code=status.HTTP_201_CREATED, summary="Add an account"
)
async def create_account(
    data: AccountCreate,
    principal: Principal = Depends(require(ACCOUNTS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> AccountPublic:
    def _run() -> AccountPublic:
        with rt.db.session() as session:
            account = service.create(
                session,
                tenant_id=principal.tenant_id,
                data=data,
                vault=rt.vault,
                allow_private=rt.settings.accounts_allow_private,
            )
            return service.to_public(account)

    return await run_in_threadpool(_run)


@router.get("", response_model=list[AccountPublic], summary="List accounts")
async def list_accounts(
    principal: Principal = Depends(require(ACCOUNTS_READ)), rt: Runtime = Depends(get_runtime)
) -> list[AccountPublic]:
    def _run() -> list[AccountPublic]:
        with rt.db.session() as session:
            return service.public_with_usage(
                session, service.list_(session, tenant_id=principal.tenant_id)
            )

    return await run_in_threadpool(_run)


@router.get("/{account_id}", response_model=AccountPublic, summary="One account")
async def get_account(
    account_id: PathId,
    principal: Principal = Depends(require(ACCOUNTS_READ)),
    rt: Runtime = Depends(get_runtime),
) -> AccountPublic:
    def _run() -> AccountPublic:
        with rt.db.session() as session:
            account = service.get_or_raise(session, tenant_id=principal.tenant_id, ref=account_id)
            return service.public_with_usage(session, [account])[0]

    return await run_in_threadpool(_run)


@router.patch("/{account_id}", response_model=AccountPublic, summary="Change an account")
async def update_account(
    account_id: PathId,
    data: AccountUpdate,
    principal: Principal = Depends(require(ACCOUNTS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> AccountPublic:
    def _run() -> AccountPublic:
        with rt.db.session() as session:
            account = service.update(
                session,
                tenant_id=principal.tenant_id,
                ref=account_id,
                data=data,
                vault=rt.vault,
                allow_private=rt.settings.accounts_allow_private,
            )
            return service.to_public(account)

    return await run_in_threadpool(_run)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove")
async def delete_account(
    account_id: PathId,
    principal: Principal = Depends(require(ACCOUNTS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> None:
        with rt.db.session() as session:
            service.delete(session, tenant_id=principal.tenant_id, ref=account_id)

    await run_in_threadpool(_run)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{account_id}/test",
    response_model=AccountTestResult,
    summary="Connect, negotiate TLS and log in for real",
)
async def test_account(
    account_id: PathId,
    # It makes the server open a connection where the account says: a write, not a read.
    principal: Principal = Depends(require(ACCOUNTS_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> AccountTestResult:
    def _config():  # type: ignore[no-untyped-def]
        with rt.db.session() as session:
            account = service.get_or_raise(session, tenant_id=principal.tenant_id, ref=account_id)
            config = service.smtp_config(
                account,
                rt.vault,
                timeout=rt.settings.smtp_timeout,
                allow_private=rt.settings.accounts_allow_private,
            )
            return config, account.name

    config, name = await run_in_threadpool(_config)
    return await service.test_login(config, name=name)

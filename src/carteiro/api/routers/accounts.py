"""Mail accounts: CRUD and a real login test."""

from __future__ import annotations

from fastapi import Response, status
from sqlalchemy.orm import Session

from carteiro.accounts import service
from carteiro.accounts.schemas import AccountCreate, AccountPublic, AccountTestResult, AccountUpdate
from carteiro.api.deps import AccountsReadKey, AccountsWriteKey, PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.mail.transports.smtp import SmtpConfig

router = Router(prefix="/accounts", tags=["accounts"])


@router.post(
    "", response_model=AccountPublic, status_code=status.HTTP_201_CREATED, summary="Add an account"
)
def create_account(
    data: AccountCreate, principal: AccountsWriteKey, rt: Rt, session: Tx
) -> AccountPublic:
    account = service.create(
        session,
        tenant_id=principal.tenant_id,
        data=data,
        vault=rt.vault,
        allow_private=rt.settings.accounts_allow_private,
    )
    return service.to_public(account)


@router.get("", response_model=list[AccountPublic], summary="List accounts")
def list_accounts(principal: AccountsReadKey, session: Tx) -> list[AccountPublic]:
    return service.public_with_usage(session, service.list_(session, tenant_id=principal.tenant_id))


@router.get("/{account_id}", response_model=AccountPublic, summary="One account")
def get_account(account_id: PathId, principal: AccountsReadKey, session: Tx) -> AccountPublic:
    account = service.get_or_raise(session, tenant_id=principal.tenant_id, ref=account_id)
    return service.public_with_usage(session, [account])[0]


@router.patch("/{account_id}", response_model=AccountPublic, summary="Change an account")
def update_account(
    account_id: PathId, data: AccountUpdate, principal: AccountsWriteKey, rt: Rt, session: Tx
) -> AccountPublic:
    account = service.update(
        session,
        tenant_id=principal.tenant_id,
        ref=account_id,
        data=data,
        vault=rt.vault,
        allow_private=rt.settings.accounts_allow_private,
    )
    return service.to_public(account)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove")
def delete_account(account_id: PathId, principal: AccountsWriteKey, session: Tx) -> Response:
    service.delete(session, tenant_id=principal.tenant_id, ref=account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{account_id}/test",
    response_model=AccountTestResult,
    summary="Connect, negotiate TLS and log in for real",
)
async def test_account(
    account_id: PathId,
    # It makes the server open a connection where the account says: a write, not a read.
    principal: AccountsWriteKey,
    rt: Rt,
) -> AccountTestResult:
    def _config(session: Session) -> tuple[SmtpConfig, str]:
        account = service.get_or_raise(session, tenant_id=principal.tenant_id, ref=account_id)
        config = service.smtp_config(
            account,
            rt.vault,
            timeout=rt.settings.smtp_timeout,
            allow_private=rt.settings.accounts_allow_private,
        )
        return config, account.name

    # Async, and no transaction held across the login: the test waits on a remote server.
    config, name = await in_transaction(rt, _config)
    return await service.test_login(config, name=name)

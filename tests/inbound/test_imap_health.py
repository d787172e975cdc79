"""The account health check logs in to IMAP as well once an account has IMAP settings."""

from __future__ import annotations

from carteiro.accounts import service as accounts
from carteiro.accounts.health import check_account_health
from carteiro.accounts.schemas import AccountUpdate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot


async def test_health_checks_smtp_and_imap_logins(
    runtime: Runtime, principal: Principal, imap_account: int, dovecot: Dovecot
) -> None:
    good = await check_account_health(runtime, account_id=imap_account)
    assert good.ok, good.detail
    assert "IMAP: logged in" in good.detail and good.detail.startswith("SMTP:")

    with runtime.db.session() as session:
        account = accounts.get_or_raise(session, tenant_id=principal.tenant_id, ref=imap_account)
        imap = {k: v for k, v in (account.imap or {}).items() if k != "password_enc"}
        accounts.update(
            session,
            tenant_id=principal.tenant_id,
            ref=imap_account,
            data=AccountUpdate(imap={**imap, "password": "wrong"}),
            vault=runtime.vault,
        )
    bad = await check_account_health(runtime, account_id=imap_account)
    assert not bad.ok and "IMAP" in bad.detail and "refused the login" in bad.detail

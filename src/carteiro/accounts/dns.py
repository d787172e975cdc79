"""DNS readiness of an account: read it, check its From domain, store dns_status and the report."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from carteiro.accounts import dnscheck
from carteiro.accounts import service as accounts
from carteiro.accounts.dns_schemas import AccountDnsReport
from carteiro.accounts.dnscheck import KeyInfo
from carteiro.accounts.models import AccountCheck
from carteiro.db.engine import Database
from carteiro.db.types import utcnow
from carteiro.mail.addresses import domain_of
from carteiro.mail.resolver import Resolver
from carteiro.outbound.dkim import keys as dkim_keys


@dataclass(frozen=True)
class DnsTarget:
    """What checking one account needs, read in a short transaction."""

    account_id: int
    tenant_id: int
    name: str
    domain: str
    smtp_host: str
    key: KeyInfo | None


def target(session: Session, *, tenant_id: int, ref: int | str) -> DnsTarget:
    account = accounts.get_or_raise(session, tenant_id=tenant_id, ref=ref)
    domain = domain_of(account.email)
    key = dkim_keys.active_key(session, tenant_id=tenant_id, domain=domain)
    return DnsTarget(
        account_id=account.id,
        tenant_id=tenant_id,
        name=account.name,
        domain=domain,
        smtp_host=account.smtp_host,
        key=None
        if key is None
        else KeyInfo(domain=key.domain, selector=key.selector, public_key=key.public_key),
    )


def check_target(t: DnsTarget, resolver: Resolver) -> AccountDnsReport:
    """The checks themselves; no database session is held while DNS answers."""
    report = dnscheck.check_domain(resolver, domain=t.domain, smtp_host=t.smtp_host, key=t.key)
    return AccountDnsReport(
        **report.model_dump(), account_id=t.account_id, account=t.name, smtp_host=t.smtp_host
    )


def store(session: Session, *, tenant_id: int, report: AccountDnsReport) -> None:
    """Saves dns_status on the account and the full report beside it."""
    account = accounts.get(session, tenant_id=tenant_id, ref=report.account_id)
    if account is None:
        return  # removed while DNS was being checked
    account.dns_status = report.status
    row = session.get(AccountCheck, account.id)
    if row is None:
        row = AccountCheck(account_id=account.id, tenant_id=tenant_id)
        session.add(row)
    row.dns_report = report.model_dump(mode="json")
    row.dns_checked_at = utcnow()
    session.flush()


def last_report(session: Session, *, tenant_id: int, ref: int | str) -> AccountDnsReport | None:
    """The stored report of the last check, if any (no DNS traffic)."""
    account = accounts.get_or_raise(session, tenant_id=tenant_id, ref=ref)
    row = session.get(AccountCheck, account.id)
    if row is None or row.dns_report is None:
        return None
    return AccountDnsReport.model_validate(row.dns_report)


def check_account(
    db: Database, *, tenant_id: int, ref: int | str, resolver: Resolver
) -> AccountDnsReport:
    """Reads the account, checks DNS outside any transaction, stores the result."""
    with db.session() as session:
        t = target(session, tenant_id=tenant_id, ref=ref)
    report = check_target(t, resolver)
    with db.session() as session:
        store(session, tenant_id=tenant_id, report=report)
    return report

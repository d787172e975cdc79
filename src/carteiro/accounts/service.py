"""Mail accounts: create, list, get, update, delete, test a login, Gmail from the environment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.accounts import checks, connections, limits
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    AccountTestResult,
    AccountUpdate,
    AccountUsagePublic,
    Limits,
    SmtpPublic,
    WarmupPublic,
    WindowUsage,
)
from carteiro.accounts.vault import Vault
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.mail.transports.base import DeliveryError
from carteiro.mail.transports.smtp import BLOCKED_HOST, SmtpConfig, SmtpTransport

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
GMAIL_ACCOUNT = "gmail"


def to_public(account: Account) -> AccountPublic:
    imap = dict(account.imap) if account.imap else None
    if imap is not None:
        imap["has_password"] = bool(imap.pop("password_enc", None))
    return AccountPublic(
        id=account.id,
        name=account.name,
        email=account.email,
        display_name=account.display_name,
        smtp=SmtpPublic(
            host=account.smtp_host,
            port=account.smtp_port,
            security=account.smtp_security,
            username=account.smtp_username,
            has_password=account.smtp_password_enc is not None,
            verify_tls=account.smtp_verify_tls,
            ca_file=account.smtp_ca_file,
        ),
        imap=imap,
        limits=Limits(
            per_minute=account.limit_per_minute,
            per_hour=account.limit_per_hour,
            per_day=account.limit_per_day,
            max_connections=account.max_connections,
        ),
        warmup=account.warmup,
        weight=account.weight,
        status=account.status,
        status_reason=account.status_reason,
        cooldown_until=account.cooldown_until,
        last_health_check_at=account.last_health_check_at,
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def _sending(session: Session, *, account_ids: list[int]) -> dict[int, int]:
    """Messages being sent right now per account, by any worker."""
    from carteiro.outbound.models import Email

    if not account_ids:
        return {}
    rows = session.execute(
        select(Email.account_id, func.count(Email.id))
        .where(Email.status == "sending", Email.account_id.in_(account_ids))
        .group_by(Email.account_id)
    )
    return {account_id: n for account_id, n in rows if account_id is not None}


def public_with_usage(session: Session, accounts: list[Account]) -> list[AccountPublic]:
    """Public views with each account's remaining budget and warm-up day (one query each)."""
    now = utcnow()
    ids = [a.id for a in accounts]
    used = limits.usage(session, account_ids=ids, now=now)
    flying = _sending(session, account_ids=ids)
    slots = connections.counts(session, account_ids=ids, now=now)
    out = []
    for account in accounts:
        budget = limits.budget_of(account, used[account.id], now=now)
        day_cap = limits.day_limit(account, today=now.date())
        warm = limits.warmup_status(account.warmup, today=now.date())
        public = to_public(account)
        public.usage = AccountUsagePublic(
            minute=WindowUsage(
                limit=account.limit_per_minute, used=budget.used["minute"], remaining=budget.minute
            ),
            hour=WindowUsage(
                limit=account.limit_per_hour, used=budget.used["hour"], remaining=budget.hour
            ),
            day=WindowUsage(limit=day_cap, used=budget.used["day"], remaining=budget.day),
            in_flight=flying.get(account.id, 0),
            connections=slots.get(account.id, 0),
            max_connections=account.max_connections,
            remaining_now=budget.remaining,
        )
        if warm is not None:
            public.warmup_status = WarmupPublic(
                day=warm.day, cap=warm.cap, target=warm.target, complete=warm.complete
            )
        out.append(public)
    return out


def _seal_imap(imap: dict[str, Any] | None, vault: Vault) -> dict[str, Any] | None:
    if imap is None:
        return None
    sealed = dict(imap)
    password = sealed.pop("password", None)
    if password:
        sealed["password_enc"] = vault.encrypt(str(password))
    return sealed


def _check_name_free(session: Session, *, tenant_id: int, name: str, exclude: int | None) -> None:
    stmt = select(Account.id).where(Account.tenant_id == tenant_id, Account.name == name)
    found = session.scalar(stmt)
    if found is not None and found != exclude:
        raise Conflict(f"an account named '{name}' already exists", field="name")


def _check_imap(imap: dict[str, Any] | None, *, allow_private: bool) -> None:
    if not imap:
        return
    ca_file = imap.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise InvalidInput("imap.ca_file: must be a path", field="imap.ca_file")
    checks.check_ca_file(ca_file or None, field="imap.ca_file")
    host = imap.get("host")
    if host is not None and not isinstance(host, str):
        raise InvalidInput("imap.host: must be a host name", field="imap.host")
    port = imap.get("port")
    checks.check_host(
        (host or "").strip(),
        port=port if isinstance(port, int) else 993,
        field="imap.host",
        allow_private=allow_private,
    )


def create(
    session: Session,
    *,
    tenant_id: int,
    data: AccountCreate,
    vault: Vault,
    allow_private: bool = True,
) -> Account:
    """A new account; with `allow_private` false its hosts must resolve to public addresses."""
    _check_name_free(session, tenant_id=tenant_id, name=data.name, exclude=None)
    checks.check_sender(email=str(data.email), display_name=data.display_name)
    checks.check_ca_file(data.smtp.ca_file, field="smtp.ca_file")
    port = data.smtp.port or DEFAULT_PORTS[data.smtp.security]
    checks.check_host(data.smtp.host, port=port, field="smtp.host", allow_private=allow_private)
    _check_imap(data.imap, allow_private=allow_private)
    account = Account(
        tenant_id=tenant_id,
        name=data.name,
        email=str(data.email),
        display_name=data.display_name,
        smtp_host=data.smtp.host,
        smtp_port=port,
        smtp_security=data.smtp.security,
        smtp_username=data.smtp.username,
        smtp_password_enc=vault.encrypt(data.smtp.password) if data.smtp.password else None,
        smtp_verify_tls=data.smtp.verify_tls,
        smtp_ca_file=data.smtp.ca_file,
        imap=_seal_imap(data.imap, vault),
        limit_per_minute=data.limits.per_minute,
        limit_per_hour=data.limits.per_hour,
        limit_per_day=data.limits.per_day,
        max_connections=data.limits.max_connections,
        warmup=limits.validate_warmup(data.warmup, today=utcnow().date()),
        weight=data.weight,
        status="active",
    )
    session.add(account)
    session.flush()
    return account


def list_(session: Session, *, tenant_id: int) -> list[Account]:
    stmt = select(Account).where(Account.tenant_id == tenant_id).order_by(Account.id)
    return list(session.scalars(stmt))


def list_visible(
    session: Session, *, tenant_id: int, account_ids: set[int] | None
) -> list[Account]:
    """The tenant's accounts by name, limited to `account_ids` unless that is None."""
    stmt = select(Account).where(Account.tenant_id == tenant_id)
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(sorted(account_ids)))
    return list(session.scalars(stmt.order_by(Account.name, Account.id)))


def list_every_tenant(session: Session) -> list[Account]:
    """All accounts of all tenants, by tenant and id (for operators' checks)."""
    return list(session.scalars(select(Account).order_by(Account.tenant_id, Account.id)))


def exists(session: Session) -> bool:
    """Whether any tenant has an account."""
    return session.scalar(select(Account.id).limit(1)) is not None


def get(session: Session, *, tenant_id: int, ref: int | str) -> Account | None:
    """An account by id or by name, within the tenant."""
    stmt = select(Account).where(Account.tenant_id == tenant_id)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        by_id = session.scalar(stmt.where(Account.id == int(ref)))
        if by_id is not None:
            return by_id
    return session.scalar(stmt.where(Account.name == str(ref)))


def get_or_raise(session: Session, *, tenant_id: int, ref: int | str) -> Account:
    account = get(session, tenant_id=tenant_id, ref=ref)
    if account is None:
        raise NotFound(f"account '{ref}' not found")
    return account


def update(
    session: Session,
    *,
    tenant_id: int,
    ref: int | str,
    data: AccountUpdate,
    vault: Vault,
    allow_private: bool = True,
) -> Account:
    account = get_or_raise(session, tenant_id=tenant_id, ref=ref)
    fields = data.model_dump(exclude_unset=True)
    if data.email is not None or "display_name" in fields:
        checks.check_sender(
            email=str(data.email) if data.email is not None else account.email,
            display_name=data.display_name if "display_name" in fields else account.display_name,
        )
    if data.smtp is not None and data.smtp.host:
        checks.check_host(
            data.smtp.host,
            port=data.smtp.port or account.smtp_port,
            field="smtp.host",
            allow_private=allow_private,
        )
    if "imap" in fields:
        _check_imap(data.imap, allow_private=allow_private)
    if "name" in fields and data.name is not None:
        _check_name_free(session, tenant_id=tenant_id, name=data.name, exclude=account.id)
        account.name = data.name
    if data.email is not None:
        account.email = str(data.email)
    if "display_name" in fields:
        account.display_name = data.display_name
    if data.smtp is not None:
        smtp = data.smtp.model_dump(exclude_unset=True)
        if "ca_file" in smtp:
            checks.check_ca_file(smtp["ca_file"], field="smtp.ca_file")
            account.smtp_ca_file = smtp["ca_file"]
        if smtp.get("host"):
            account.smtp_host = smtp["host"]
        if smtp.get("security"):
            account.smtp_security = smtp["security"]
        if smtp.get("port"):
            account.smtp_port = smtp["port"]
        if "username" in smtp:
            account.smtp_username = smtp["username"]
        if "password" in smtp:
            pw = smtp["password"]
            account.smtp_password_enc = vault.encrypt(pw) if pw else None
        if smtp.get("verify_tls") is not None:
            account.smtp_verify_tls = smtp["verify_tls"]
    if "imap" in fields:
        account.imap = _seal_imap(data.imap, vault)
    if data.limits is not None:
        account.limit_per_minute = data.limits.per_minute
        account.limit_per_hour = data.limits.per_hour
        account.limit_per_day = data.limits.per_day
        account.max_connections = data.limits.max_connections
    if "warmup" in fields:
        account.warmup = limits.validate_warmup(data.warmup, today=utcnow().date())
    if data.weight is not None:
        account.weight = data.weight
    if data.status is not None:
        account.status = data.status
        account.status_reason = None if data.status == "active" else "set by an operator"
        if data.status == "active":
            # An operator re-enabling an account also closes its breaker.
            account.consecutive_failures = 0
            account.cooldown_until = None
    session.flush()
    return account


def delete(session: Session, *, tenant_id: int, ref: int | str) -> None:
    from carteiro.outbound.models import Email

    account = get_or_raise(session, tenant_id=tenant_id, ref=ref)
    busy = session.scalar(
        select(Email.id).where(
            Email.account_id == account.id, Email.status.in_(("pending", "held", "sending"))
        )
    )
    if busy is not None:
        raise Conflict(
            f"account '{account.name}' still has queued messages: cancel them or wait",
            field="account",
        )
    session.delete(account)
    session.flush()


def smtp_config(
    account: Account, vault: Vault, *, timeout: float = 30.0, allow_private: bool = True
) -> SmtpConfig:
    return SmtpConfig(
        host=account.smtp_host,
        port=account.smtp_port,
        security=account.smtp_security,
        username=account.smtp_username,
        password=vault.decrypt(account.smtp_password_enc) if account.smtp_password_enc else None,
        verify_tls=account.smtp_verify_tls,
        ca_file=account.smtp_ca_file,
        timeout=timeout,
        max_connections=account.max_connections,
        allow_private=allow_private,
    )


# One fixed sentence per outcome: the remote server's own words never reach the caller, so
# a login test cannot be used to read banners off arbitrary hosts and ports.
TEST_OUTCOMES = {
    "auth": "connected, but the server refused the login (check username and password)",
    "tls": "connected, but TLS failed (check security, verify_tls and ca_file)",
    "timeout": "the server did not answer in time (check host, port and security)",
    "connection": "could not open an SMTP session (check host, port and security)",
    BLOCKED_HOST: "not attempted: the host resolves to an internal address "
    "(CARTEIRO_ACCOUNTS_ALLOW_PRIVATE is false)",
}


async def test_login(config: SmtpConfig, *, name: str) -> AccountTestResult:
    """Really connects, negotiates TLS and logs in; reports which step failed, never what
    the server said."""
    transport = SmtpTransport(config)
    try:
        detail = await transport.check_login()
        return AccountTestResult(ok=True, account=name, detail=detail)
    except DeliveryError as exc:
        detail = TEST_OUTCOMES.get(exc.error_type, TEST_OUTCOMES["connection"])
        return AccountTestResult(ok=False, account=name, detail=detail, error_type=exc.error_type)
    finally:
        await transport.close()


def ensure_gmail_from_env(
    session: Session, *, tenant_id: int, email: str, app_password: str, vault: Vault
) -> Account:
    """Creates or updates the seed's Gmail account (smtp.gmail.com:587, STARTTLS)."""
    # Google shows app passwords in groups of four; people paste them with the spaces.
    password = app_password.replace(" ", "")
    account = get(session, tenant_id=tenant_id, ref=GMAIL_ACCOUNT)
    if account is None:
        data = AccountCreate(
            name=GMAIL_ACCOUNT,
            email=email,
            smtp={
                "host": "smtp.gmail.com",
                "port": 587,
                "security": "starttls",
                "username": email,
                "password": password,
            },
        )
        return create(session, tenant_id=tenant_id, data=data, vault=vault)
    account.email = email
    account.smtp_host, account.smtp_port, account.smtp_security = "smtp.gmail.com", 587, "starttls"
    account.smtp_username = email
    account.smtp_password_enc = vault.encrypt(password)
    session.flush()
    return account


def health_summary(session: Session) -> dict[str, Any]:
    """Accounts by status, how many are cooling down, and their last DNS check results."""
    from sqlalchemy import func, literal_column

    now = utcnow()
    by_status = dict(
        session.execute(
            select(Account.status, func.count(Account.id)).group_by(Account.status)
        ).all()
    )
    cooling = session.scalar(select(func.count(Account.id)).where(Account.cooldown_until > now))
    dns_status = func.coalesce(Account.dns_status, literal_column("'unchecked'"))
    dns = dict(
        session.execute(select(dns_status, func.count(Account.id)).group_by(dns_status)).all()
    )
    return {"by_status": by_status, "cooling_down": cooling or 0, "dns": dns}

"""People of a tenant: create, list, change and authenticate users (passwords as argon2id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, Conflict, InvalidInput, NotFound
from carteiro.mail.addresses import parse_address
from carteiro.tenancy import passwords, roles
from carteiro.tenancy.models import AuditEntry, Tenant, User

LOCALES = ("pt_BR", "en")


class LoginRefused(CarteiroError):
    """Wrong e-mail or password, or a disabled user (never says which)."""

    status = 401
    code = "login_refused"


class LockedOut(CarteiroError):
    """Too many wrong passwords in a row: the user may try again at `until`."""

    status = 423
    code = "locked"

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class LoginThrottled(CarteiroError):
    """Too many failed logins from one address: refused for a while."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    ip_max_failures: int = 20


def normalize_email(value: str) -> str:
    return parse_address(value.strip(), field="email").lower()


def check_locale(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in LOCALES:
        raise InvalidInput(f"locale must be one of {', '.join(LOCALES)}", field="locale")
    return value


def check_timezone(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone '{value}'", field="timezone") from None
    return value


def create(
    session: Session,
    *,
    tenant_id: int,
    email: str,
    name: str,
    password: str,
    role: str,
    locale: str | None = None,
    timezone: str | None = None,
) -> User:
    address = normalize_email(email)
    if not name.strip():
        raise InvalidInput("a person needs a name", field="name")
    if get_by_email(session, tenant_id=tenant_id, email=address) is not None:
        raise Conflict(f"a person with e-mail {address} already exists", field="email")
    user = User(
        tenant_id=tenant_id,
        email=address,
        name=name.strip()[:200],
        password_hash=passwords.hash_password(password),
        role=roles.parse(role),
        locale=check_locale(locale),
        timezone=check_timezone(timezone),
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def get(session: Session, *, tenant_id: int, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.tenant_id == tenant_id else None


def get_or_raise(session: Session, *, tenant_id: int, user_id: int) -> User:
    user = get(session, tenant_id=tenant_id, user_id=user_id)
    if user is None:
        raise NotFound(f"person {user_id} not found", field="user")
    return user


def get_by_email(session: Session, *, tenant_id: int, email: str) -> User | None:
    return session.scalar(
        select(User).where(User.tenant_id == tenant_id, User.email == email.strip().lower())
    )


def get_by_email_or_raise(session: Session, *, tenant_id: int, email: str) -> User:
    user = get_by_email(session, tenant_id=tenant_id, email=email)
    if user is None:
        raise NotFound(f"no person with e-mail {email.strip().lower()}", field="email")
    return user


def list_(
    session: Session, *, tenant_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[User], int]:
    """A page of the tenant's people by e-mail, and how many there are."""
    where = User.tenant_id == tenant_id
    total = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = session.scalars(
        select(User).where(where).order_by(User.email).limit(limit).offset(offset)
    )
    return list(rows), total


def list_all(session: Session, *, tenant_id: int) -> list[User]:
    return list(
        session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.email))
    )


def owner_exists(session: Session, *, tenant_id: int) -> bool:
    found = session.scalar(
        select(User.id).where(User.tenant_id == tenant_id, User.role == "owner").limit(1)
    )
    return found is not None


def _active_owners(session: Session, tenant_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant_id, User.role == "owner", User.disabled.is_(False))
        )
        or 0
    )


def _keep_an_owner(session: Session, user: User) -> None:
    if user.role == "owner" and not user.disabled and _active_owners(session, user.tenant_id) <= 1:
        raise Conflict("the tenant's last owner cannot lose that role or be disabled", field="role")


def set_role(session: Session, *, user: User, role: str, by_role: str) -> User:
    """Changes a role; nobody grants or touches a role stronger than their own."""
    wanted = roles.parse(role)
    if not roles.at_least(by_role, wanted) or not roles.at_least(by_role, user.role):
        raise InvalidInput("you cannot give or change a role stronger than your own", field="role")
    if wanted != user.role:
        _keep_an_owner(session, user)
        user.role = wanted
    return user


def require_can_manage(*, by_role: str, user: User) -> None:
    """Only someone at least as strong as a person may change them."""
    if not roles.at_least(by_role, user.role):
        raise InvalidInput(
            "you cannot change a person whose role is stronger than yours", field="role"
        )


def set_disabled(session: Session, *, user: User, disabled: bool) -> User:
    """Disables (their sessions stop working at once) or enables a person."""
    if disabled and not user.disabled:
        _keep_an_owner(session, user)
    user.disabled = disabled
    if not disabled:
        user.failed_logins = 0
        user.locked_until = None
    return user


def set_password(session: Session, *, user: User, password: str) -> User:
    """A new password (the CLI's reset): also lifts a lockout."""
    user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    return user


def update_preferences(
    session: Session, *, user: User, name: str | None, locale: str | None, timezone: str | None
) -> User:
    if name is not None:
        if not name.strip():
            raise InvalidInput("a person needs a name", field="name")
        user.name = name.strip()[:200]
    user.locale = check_locale(locale)
    user.timezone = check_timezone(timezone)
    return user


def failures_from(session: Session, *, ip: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.ip == ip,
                AuditEntry.action == "login_failed",
                AuditEntry.created_at >= since,
            )
        )
        or 0
    )


def _candidates(session: Session, email: str) -> Sequence[User]:
    return list(session.scalars(select(User).where(User.email == email).order_by(User.id)))


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> User:
    """The user for an e-mail and password, counting failures; raises LoginRefused, LockedOut
    or LoginThrottled. The caller records the audit entry (and commits a failure's count)."""
    now = now or utcnow()
    if ip is not None:
        recent = failures_from(session, ip=ip, since=now - policy.lockout)
        if recent >= policy.ip_max_failures:
            raise LoginThrottled(
                "too many failed logins from this address; try again later",
                retry_after=int(policy.lockout.total_seconds()),
            )
    address = email.strip().lower()
    users = _candidates(session, address) if address else []
    if not users:
        passwords.verify(password, passwords.dummy_hash())
        raise LoginRefused("wrong e-mail or password")
    for user in users:
        if user.locked_until is not None and user.locked_until > now:
            # Not even checked: a locked account gives no oracle for the password.
            raise LockedOut(
                "too many wrong passwords: this account is locked", until=user.locked_until
            )
        if passwords.verify(password, user.password_hash):
            if user.disabled:
                raise LoginRefused("wrong e-mail or password")
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            return user
    for user in users:
        user.failed_logins += 1
        if user.failed_logins >= policy.max_failures:
            user.failed_logins = 0
            user.locked_until = now + policy.lockout
            raise LockedOut(
                "too many wrong passwords: this account is locked", until=user.locked_until
            )
    raise LoginRefused("wrong e-mail or password")


def now() -> datetime:
    return utcnow()


def tenant_for_failure(session: Session, *, email: str) -> int | None:
    """Where a failed login is recorded: the tenant of a person with that e-mail, else the
    oldest tenant (so that throttling by address counts unknown e-mails too)."""
    address = email.strip().lower()
    found = session.scalar(select(User.tenant_id).where(User.email == address).limit(1))
    if found is not None:
        return int(found)
    oldest = session.scalar(select(Tenant.id).order_by(Tenant.id).limit(1))
    return int(oldest) if oldest is not None else None


def set_locale(session: Session, *, tenant_id: int, user_id: int, locale: str) -> None:
    user = get_or_raise(session, tenant_id=tenant_id, user_id=user_id)
    user.locale = check_locale(locale)

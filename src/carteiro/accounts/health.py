"""Account health: scheduled SMTP login checks, automatic pause after repeated failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.accounts import status
from carteiro.accounts.imap import imap_config
from carteiro.accounts.models import Account, AccountCheck
from carteiro.config import Settings
from carteiro.db import leases as leader
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, NotFound
from carteiro.loops import run_every
from carteiro.mail.imap import ImapConfig
from carteiro.mail.imap import close as close_imap
from carteiro.mail.imap import connect as connect_imap
from carteiro.mail.transports.smtp import SmtpConfig
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.health")
JOB = "account-health"
HEALTH_PREFIX = "health check: "


@dataclass(frozen=True)
class HealthConfig:
    """How often each account is checked, and after how many failures in a row it is paused."""

    health_interval_seconds: float = 6 * 3600.0
    health_max_failures: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthConfig:
        return cls(
            health_interval_seconds=float(settings.health_check_interval_seconds),
            health_max_failures=int(settings.health_max_failures),
        )


@dataclass(frozen=True)
class HealthResult:
    account_id: int
    account: str
    ok: bool
    detail: str
    failures: int
    paused: bool
    resumed: bool
    checked_at: datetime


def _check_row(session: Session, account: Account) -> AccountCheck:
    row = session.get(AccountCheck, account.id)
    if row is None:
        row = AccountCheck(account_id=account.id, tenant_id=account.tenant_id, health_failures=0)
        session.add(row)
    return row


def record(
    session: Session, *, account_id: int, ok: bool, detail: str, max_failures: int
) -> HealthResult:
    """Stores one check's outcome; pauses after `max_failures` failures in a row and resumes
    an account that the health job itself had paused once its login works again."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    now = utcnow()
    account.last_health_check_at = now
    row = _check_row(session, account)
    row.health_ok, row.health_detail = ok, detail[:2000]
    paused = resumed = False
    if ok:
        row.health_failures = 0
        if row.paused_by_health and account.status == "paused":
            status.resume(session, account=account, why="its login works again")
            row.paused_by_health = False
            resumed = True
    else:
        row.health_failures = (row.health_failures or 0) + 1
        if row.health_failures >= max_failures:
            reason = (
                f"{HEALTH_PREFIX}login check failed {row.health_failures} times in a row: {detail}"
            )
            paused = status.pause(session, account=account, reason=reason, source="health")
            row.paused_by_health = row.paused_by_health or paused
    session.flush()
    return HealthResult(
        account_id=account.id,
        account=account.name,
        ok=ok,
        detail=detail,
        failures=row.health_failures,
        paused=paused,
        resumed=resumed,
        checked_at=now,
    )


async def check_account_health(runtime: Runtime, *, account_id: int) -> HealthResult:
    """Logs in to the account's SMTP server (and its IMAP server when configured) for real
    and records the outcome."""
    config = HealthConfig.from_settings(runtime.settings)

    def load() -> tuple[SmtpConfig, ImapConfig | None, str]:
        with runtime.db.session() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"account {account_id} not found")
            allow_private = runtime.settings.accounts_allow_private
            smtp = accounts.smtp_config(
                account,
                runtime.vault,
                timeout=runtime.settings.smtp_timeout,
                allow_private=allow_private,
            )
            imap = imap_config(
                account,
                runtime.vault,
                timeout=runtime.settings.smtp_timeout,
                allow_private=allow_private,
            )
            return smtp, imap, account.name

    try:
        smtp, imap, name = await asyncio.to_thread(load)
        result = await accounts.test_login(smtp, name=name)
        ok, detail = result.ok, f"SMTP: {result.detail}"
        if ok and imap is not None:
            # Once IMAP is configured the inbox depends on it too: log in there as well.
            await asyncio.to_thread(lambda: close_imap(connect_imap(imap)))
            detail += f"; IMAP: logged in to {imap.host}:{imap.port}"
    except CarteiroError as exc:  # a check must always end in a recorded outcome
        # Our own sentences (IMAP ones say which step failed, never what the server said).
        message = exc.message
        ok, detail = False, message if "IMAP" in message else f"SMTP: {message}"
    except Exception as exc:
        ok, detail = False, f"the check failed unexpectedly ({type(exc).__name__})"

    def save() -> HealthResult:
        with runtime.db.session() as session:
            return record(
                session,
                account_id=account_id,
                ok=ok,
                detail=detail,
                max_failures=config.health_max_failures,
            )

    return await asyncio.to_thread(save)


def due_accounts(session: Session, *, interval: float) -> list[int]:
    """Active accounts (and ones the health job paused) not checked within `interval` s."""
    since = utcnow() - timedelta(seconds=interval)
    paused_by_job = select(AccountCheck.account_id).where(AccountCheck.paused_by_health.is_(True))
    stmt = select(Account.id).where(
        or_(Account.status == "active", Account.id.in_(paused_by_job)),
        or_(Account.last_health_check_at.is_(None), Account.last_health_check_at < since),
    )
    return list(session.scalars(stmt.order_by(Account.id)))


async def health_loop(runtime: Runtime, stop: asyncio.Event, *, owner: str | None = None) -> None:
    """Checks every account once per interval; one process at a time does the checking."""
    config = HealthConfig.from_settings(runtime.settings)
    me = owner or leader.worker_id()
    tick = min(60.0, max(config.health_interval_seconds / 10, 0.05))

    def claim_due() -> list[int]:
        with runtime.db.session() as session:
            if not leader.try_lead(session, name=JOB, owner=me, ttl=tick * 3 + 60):
                return []
            ids = due_accounts(session, interval=config.health_interval_seconds)
            if ids:
                # Stamped now, so another process leading the next tick does not check them
                # again while these checks run.
                session.execute(
                    update(Account).where(Account.id.in_(ids)).values(last_health_check_at=utcnow())
                )
            return ids

    gate = asyncio.Semaphore(4)

    async def one(account_id: int) -> None:
        async with gate:
            with contextlib.suppress(NotFound):  # removed meanwhile
                await check_account_health(runtime, account_id=account_id)

    async def sweep() -> None:
        ids = await asyncio.to_thread(claim_due)
        await asyncio.gather(*(one(i) for i in ids))

    await run_every(
        stop, tick, sweep, error="health round failed; retrying after a pause", logger=log
    )

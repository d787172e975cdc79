"""Account state changes: pause, cool down, pause bulk mail, resume; each announced once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.events import outbox

log = logging.getLogger("carteiro.accounts")
BULK_PAUSE = timedelta(hours=1)


def _announce(
    session: Session, account: Account, *, reason: str, source: str, scope: str | None = None
) -> None:
    """The one `account_paused` event: `scope` says what stopped when not the whole account
    (a cool-down stops all mail for a while, a bulk pause only the bulk lane)."""
    payload: dict[str, object] = {
        "account_id": account.id,
        "account": account.name,
        "email": account.email,
        "reason": reason[:1000],
        "source": source,
    }
    if scope is not None:
        payload["scope"] = scope
    outbox.emit(session, tenant_id=account.tenant_id, type="account_paused", payload=payload)


def pause(session: Session, *, account: Account, reason: str, source: str = "carteiro") -> bool:
    """Pauses an active account with a reason, logs it and emits `account_paused` once.
    Returns False when it was not active (nothing changes)."""
    if session.get_bind().dialect.name == "postgresql":
        # Concurrent acks may both see the failure: the second waits here and then finds
        # the account paused, so the event goes out once. (SQLite writers are serialised.)
        session.refresh(account, with_for_update=True)
    if account.status != "active":
        return False
    account.status = "paused"
    account.status_reason = reason[:1000]
    log.warning("account %s (%s) paused: %s", account.id, account.name, reason)
    _announce(session, account, reason=reason, source=source)
    session.flush()
    return True


def resume(session: Session, *, account: Account, why: str) -> None:
    """Puts a paused account back to work."""
    account.status, account.status_reason = "active", None
    log.info("account %s (%s) resumed: %s", account.id, account.name, why)


def cool_down(
    session: Session, *, account_id: int, now: datetime, seconds: float, why: str, source: str
) -> None:
    """Stops all of an account's mail until the cool-down ends; its failure streak restarts."""
    until = now + timedelta(seconds=seconds)
    _temporary(session, account_id, f"cooling down until {until.isoformat()}: {why}", source, "all")
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            cooldown_until=until,
            consecutive_failures=0,
            status_reason=f"cooling down until {until.isoformat(timespec='seconds')}: {why[:300]}",
        )
    )


def pause_bulk(session: Session, *, account_id: int, now: datetime, why: str, source: str) -> None:
    """Stops an account's bulk lane for an hour; transactional mail keeps going."""
    until = now + BULK_PAUSE
    reason = f"bulk mail paused until {until.isoformat()}: {why}"
    _temporary(session, account_id, reason, source, "bulk")
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            bulk_paused_until=until,
            status_reason=f"bulk mail paused until {until.isoformat(timespec='seconds')}: "
            f"{why[:300]}",
        )
    )


def _temporary(session: Session, account_id: int, reason: str, source: str, scope: str) -> None:
    account = session.get(Account, account_id)
    if account is None:
        return
    log.warning("account %s (%s): %s", account.id, account.name, reason)
    _announce(session, account, reason=reason[:500], source=source, scope=scope)

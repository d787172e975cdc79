"""Per-account circuit breaker: cool down after repeated failures, pause on bad credentials."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.accounts import health
from carteiro.accounts.models import Account
from carteiro.events import outbox
from carteiro.mail.replies import ReplyClass, classify_reply
from carteiro.mail.transports.base import DeliveryError

if TYPE_CHECKING:
    from carteiro.outbound.queue import Outcome, RetryPolicy

log = logging.getLogger("carteiro.breaker")
ACCOUNTS = Account.__table__
COUNTED = {"connection", "timeout", "tls", "smtp_4xx"}
BULK_PAUSE = timedelta(hours=1)


def kind_of(err: DeliveryError) -> ReplyClass:
    """What a failure means (RFC 3463 classes): auth and throttling are the account's problem,
    hard bounces the address's, policy/spam rejections the account's bulk mail's."""
    if err.error_type == "auth":
        return ReplyClass.AUTH
    if err.code is None:
        return ReplyClass.OTHER
    return classify_reply(err.code, err.reply or "")


def pause_bulk(session: Session, *, account_id: int, now: datetime, why: str) -> None:
    until = now + BULK_PAUSE
    _notify(session, account_id, f"bulk mail paused until {until.isoformat()}: {why}", "bulk")
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            bulk_paused_until=until,
            status_reason=f"bulk mail paused until {until.isoformat(timespec='seconds')}: "
            f"{why[:300]}",
        )
    )


def record(
    session: Session, *, outcomes: list[Outcome], policy: RetryPolicy, now: datetime
) -> None:
    """Updates each account's failure streak; opens the breaker or pauses where due."""
    streaks: dict[int, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.email.account_id is not None:
            streaks[o.email.account_id].append(o)
    for account_id, items in streaks.items():
        last = items[-1]
        if last.error is None:
            session.execute(
                # Core, not ORM: this runs with every ack.
                update(ACCOUNTS)
                .where(ACCOUNTS.c.id == account_id, ACCOUNTS.c.consecutive_failures > 0)
                .values(consecutive_failures=0)
            )
            continue
        err = last.error
        kind = kind_of(err)
        if kind == ReplyClass.AUTH:
            account = session.get(Account, account_id)
            if account is not None:
                health.pause_account(
                    session,
                    account=account,
                    reason=f"authentication failed ({err.reply[:300]}); fix the credentials, "
                    "then set the status back to active",
                    source="smtp",
                )
            continue
        failures = sum(1 for o in items if o.error is not None and o.error.error_type in COUNTED)
        if kind == ReplyClass.THROTTLED:
            _cool(session, account_id, now, policy.cooldown_seconds, f"throttled: {err.reply}")
            continue
        if kind == ReplyClass.POLICY_SPAM:
            pause_bulk(session, account_id=account_id, now=now, why=err.reply)
            continue
        if not failures:
            continue
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(consecutive_failures=Account.consecutive_failures + failures)
        )
        streak = session.scalar(
            select(Account.consecutive_failures).where(Account.id == account_id)
        )
        if streak is not None and streak >= policy.breaker_failures:
            _cool(
                session,
                account_id,
                now,
                policy.cooldown_seconds,
                f"{streak} consecutive failures (last: {err.reply})",
            )


def _notify(session: Session, account_id: int, reason: str, scope: str) -> None:
    """Tells webhooks (account_paused) and the log why an account stopped taking mail."""
    account = session.get(Account, account_id)
    if account is None:
        return
    log.warning("account %s (%s): %s", account.id, account.name, reason)
    outbox.emit(
        session,
        tenant_id=account.tenant_id,
        type="account_paused",
        payload={
            "account_id": account.id,
            "account": account.name,
            "email": account.email,
            "reason": reason[:500],
            "scope": scope,
            "source": "breaker",
        },
    )


def _cool(session: Session, account_id: int, now: datetime, seconds: float, why: str) -> None:
    until = now + timedelta(seconds=seconds)
    _notify(session, account_id, f"cooling down until {until.isoformat()}: {why}", "all")
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            cooldown_until=until,
            consecutive_failures=0,
            status_reason=f"cooling down until {until.isoformat(timespec='seconds')}: {why[:300]}",
        )
    )

"""Per-account circuit breaker: cool down after repeated failures, pause on bad credentials."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.outbound.transports.base import DeliveryError

if TYPE_CHECKING:
    from carteiro.outbound.queue import Outcome, RetryPolicy

_POLICY_CODE = re.compile(r"\b4\.7\.\d{1,3}\b")
_THROTTLE_WORDS = re.compile(r"rate limit|too many|throttl|sending rate|try again later", re.I)
COUNTED = {"connection", "timeout", "tls", "smtp_4xx"}


def kind_of(err: DeliveryError) -> str:
    """auth (bad credentials), throttled (the provider asks us to slow down), or other."""
    if err.error_type == "auth":
        return "auth"
    if err.permanent or err.code is None:
        return "other"
    reply = err.reply or ""
    # 421 4.7.x (Gmail, Outlook) and SES's 454 mean "slow down"; greylisting (451 4.7.1) does not.
    if err.code == 454 or (err.code == 421 and _POLICY_CODE.search(reply)):
        return "throttled"
    if 400 <= err.code < 500 and _THROTTLE_WORDS.search(reply) and err.code != 451:
        return "throttled"
    return "other"


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
                update(Account)
                .where(Account.id == account_id, Account.consecutive_failures > 0)
                .values(consecutive_failures=0)
            )
            continue
        err = last.error
        kind = kind_of(err)
        if kind == "auth":
            session.execute(
                update(Account)
                .where(Account.id == account_id, Account.status == "active")
                .values(
                    status="paused",
                    status_reason=f"authentication failed ({err.reply[:300]}); fix the "
                    "credentials, then set the status back to active",
                )
            )
            continue
        failures = sum(1 for o in items if o.error is not None and o.error.error_type in COUNTED)
        if kind == "throttled":
            _cool(session, account_id, now, policy.cooldown_seconds, f"throttled: {err.reply}")
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


def _cool(session: Session, account_id: int, now: datetime, seconds: float, why: str) -> None:
    until = now + timedelta(seconds=seconds)
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            cooldown_until=until,
            consecutive_failures=0,
            status_reason=f"cooling down until {until.isoformat(timespec='seconds')}: {why[:300]}",
        )
    )

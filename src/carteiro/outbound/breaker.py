"""Per-account circuit breaker: decides from failures when an account cools down or pauses."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.accounts import status
from carteiro.accounts.models import Account
from carteiro.db.base import table_of
from carteiro.mail.replies import ReplyClass, classify_reply
from carteiro.mail.transports.base import DeliveryError
from carteiro.outbound.outcome import Outcome, RetryPolicy

ACCOUNTS = table_of(Account)
COUNTED = {"connection", "timeout", "tls", "smtp_4xx"}


def kind_of(err: DeliveryError) -> ReplyClass:
    """What a failure means (RFC 3463 classes): auth and throttling are the account's problem,
    hard bounces the address's, policy/spam rejections the account's bulk mail's."""
    if err.error_type == "auth":
        return ReplyClass.AUTH
    if err.code is None:
        return ReplyClass.OTHER
    return classify_reply(err.code, err.reply or "")


def record(
    session: Session, *, outcomes: list[Outcome], policy: RetryPolicy, now: datetime
) -> None:
    """Updates each account's failure streak; opens the breaker or pauses where due."""
    streaks: dict[int, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.email.account_id is not None:
            streaks[o.email.account_id].append(o)
    for account_id, items in streaks.items():
        _judge(session, account_id, items, policy, now)


def _judge(
    session: Session, account_id: int, items: list[Outcome], policy: RetryPolicy, now: datetime
) -> None:
    last = items[-1]
    if last.error is None:
        session.execute(
            # Core, not ORM: this runs with every ack.
            update(ACCOUNTS)
            .where(ACCOUNTS.c.id == account_id, ACCOUNTS.c.consecutive_failures > 0)
            .values(consecutive_failures=0)
        )
        return
    err = last.error
    kind = kind_of(err)
    if kind == ReplyClass.AUTH:
        account = session.get(Account, account_id)
        if account is not None:
            status.pause(
                session,
                account=account,
                reason=f"authentication failed ({err.reply[:300]}); fix the credentials, "
                "then set the status back to active",
                source="smtp",
            )
        return
    if kind == ReplyClass.THROTTLED:
        status.cool_down(
            session,
            account_id=account_id,
            now=now,
            seconds=policy.cooldown_seconds,
            why=f"throttled: {err.reply}",
            source="breaker",
        )
        return
    if kind == ReplyClass.POLICY_SPAM:
        status.pause_bulk(session, account_id=account_id, now=now, why=err.reply, source="breaker")
        return
    failures = sum(1 for o in items if o.error is not None and o.error.error_type in COUNTED)
    if not failures:
        return
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(consecutive_failures=Account.consecutive_failures + failures)
    )
    streak = session.scalar(select(Account.consecutive_failures).where(Account.id == account_id))
    if streak is not None and streak >= policy.breaker_failures:
        status.cool_down(
            session,
            account_id=account_id,
            now=now,
            seconds=policy.cooldown_seconds,
            why=f"{streak} consecutive failures (last: {err.reply})",
            source="breaker",
        )

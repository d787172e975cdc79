"""The per-key hourly limit on recipients (seed: EMAIL_RATE_LIMIT_PER_HOUR → 429)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carteiro.errors import RateLimited, TooLarge
from carteiro.outbound.models import Email
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.service import Principal

WINDOW = timedelta(hours=1)


def _recipients(dialect: str) -> ColumnElement[int]:
    """A message's recipient count (to + cc + bcc), computed from its JSON address lists."""
    length = func.jsonb_array_length if dialect == "postgresql" else func.json_array_length
    return (
        length(Email.to_emails)
        + func.coalesce(length(Email.cc_emails), 0)
        + func.coalesce(length(Email.bcc_emails), 0)
    )


def _lock_key(session: Session, key_id: int) -> None:
    # Serialises one key's creations until the caller commits, so concurrent requests count
    # each other's messages. NO KEY UPDATE leaves the key's row free for the FOR KEY SHARE
    # that inserting an email referencing it takes. SQLite needs nothing: every transaction
    # begins IMMEDIATE, so writers already run one at a time.
    session.execute(select(ApiKey.id).where(ApiKey.id == key_id).with_for_update(key_share=True))


def check_hourly_limit(
    session: Session,
    *,
    principal: Principal,
    default_limit: int,
    adding: int,
    now: datetime,
    field: str = "to_email",
) -> None:
    """Raises when `adding` more recipients would pass the key's rolling-hour limit.

    TooLarge when the request alone exceeds the limit (waiting never helps), RateLimited with
    the seconds until enough of the window frees otherwise.
    """
    limit = principal.rate_limit_per_hour
    if limit is None:
        limit = default_limit
    if limit == 0 or principal.key_id is None:
        return
    if adding > limit:
        raise TooLarge(
            f"Limite de emails por hora excedido: {adding} recipients in one request exceed "
            f"this key's limit of {limit} per hour; split the request or ask for a higher limit",
            field=field,
        )
    _lock_key(session, principal.key_id)
    count = _recipients(session.get_bind().dialect.name)
    in_window = (Email.api_key_id == principal.key_id) & (Email.created_at > now - WINDOW)
    used = session.scalar(select(func.coalesce(func.sum(count), 0)).where(in_window)) or 0
    if used + adding <= limit:
        return
    # The wait ends when the oldest messages leave the window and free enough recipients.
    rows = session.execute(
        select(Email.created_at, count).where(in_window).order_by(Email.created_at)
    )
    wait = WINDOW.total_seconds()
    for created_at, recipients in rows:
        used -= recipients
        if used + adding <= limit:
            wait = (created_at + WINDOW - now).total_seconds()
            break
    raise RateLimited(
        f"Limite de emails por hora excedido: this key may reach {limit} recipients per hour",
        retry_after=max(1, math.ceil(wait)),
    )

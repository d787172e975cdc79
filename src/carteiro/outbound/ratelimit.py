"""The per-key hourly creation limit (seed: EMAIL_RATE_LIMIT_PER_HOUR → 429)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.errors import RateLimited
from carteiro.outbound.models import Email
from carteiro.tenancy.service import Principal

WINDOW = timedelta(hours=1)


def check_hourly_limit(
    session: Session, *, principal: Principal, default_limit: int, adding: int, now: datetime
) -> None:
    """Raises RateLimited when `adding` more messages would pass the key's rolling-hour limit."""
    limit = principal.rate_limit_per_hour
    if limit is None:
        limit = default_limit
    if limit == 0 or principal.key_id is None:
        return
    since = now - WINDOW
    in_window = (Email.api_key_id == principal.key_id) & (Email.created_at > since)
    count, oldest = session.execute(
        select(func.count(Email.id), func.min(Email.created_at)).where(in_window)
    ).one()
    if count + adding <= limit:
        return
    if adding > limit:
        raise RateLimited(
            f"Limite de emails por hora excedido: {adding} messages in one call exceed this "
            f"key's limit of {limit} per hour",
            retry_after=int(WINDOW.total_seconds()),
        )
    wait = (oldest + WINDOW - now).total_seconds() if oldest else WINDOW.total_seconds()
    raise RateLimited(
        f"Limite de emails por hora excedido: this key may create {limit} messages per hour",
        retry_after=max(1, math.ceil(wait)),
    )

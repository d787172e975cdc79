"""Adaptive send rate per number: Meta's 130429 halves it, then it climbs back gradually."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.whatsapp.models import WhatsAppNumber

# Throughput limits of the number or its account (not the per-person pair limit, 131056,
# which says nothing about the number's rate).
CODES = frozenset({"130429", "80007"})
# Never below 1/16 of the configured rate: the number keeps draining its queue.
MIN_FACTOR = 1 / 16
# The rate climbs back linearly: the whole range in this long, so a halving takes half of it.
RECOVERY_SECONDS = 300.0
# One cut per burst: the answers of sends already in flight when Meta started refusing
# report the same overload and must not halve the rate again and again.
HOLD_SECONDS = 2.0


def factor(number: WhatsAppNumber, now: datetime) -> float:
    """The share of `rate_per_second` the number may use now (1.0 when not throttled)."""
    cut = number.throttle_factor
    if cut >= 1.0 or number.throttled_at is None:
        return 1.0
    elapsed = max(0.0, (now - number.throttled_at).total_seconds())
    return min(1.0, cut + elapsed / RECOVERY_SECONDS)


def rate(number: WhatsAppNumber, now: datetime) -> float:
    """Messages per second the number may send now."""
    return number.rate_per_second * factor(number, now)


def slow_down(session: Session, *, number_id: int, now: datetime) -> float | None:
    """Halves the number's current rate (row locked, so workers in other processes agree);
    returns the new rate, or None when this burst already cut it."""
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.id == number_id).with_for_update()
    number = session.scalar(stmt)
    if number is None:
        return None
    last = number.throttled_at
    if last is not None and 0 <= (now - last).total_seconds() < HOLD_SECONDS:
        return None
    number.throttle_factor = max(MIN_FACTOR, factor(number, now) / 2)
    number.throttled_at = now
    session.flush()
    return number.rate_per_second * number.throttle_factor

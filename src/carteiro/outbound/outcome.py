"""The value types a delivery try produces and the retry policy that judges them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from carteiro.mail.transports.base import DeliveryError, SendResult
from carteiro.outbound.claim import Claimed


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery try, to be acked."""

    email: Claimed
    account: str
    started_at: datetime
    duration: float
    result: SendResult | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 30.0
    # Circuit breaker: this many consecutive connection failures or 4xx replies pause an
    # account for the cool-down; provider throttling pauses it at once.
    breaker_failures: int = 5
    cooldown_seconds: float = 60.0

    def delay(self, retry_number: int) -> float:
        """Exponential (1 s, 2 s, 4 s … capped) with equal jitter so retries spread out."""
        full: float = min(self.max_seconds, self.base_seconds * 2 ** max(0, retry_number - 1))
        return full / 2 + random.uniform(0, full / 2)

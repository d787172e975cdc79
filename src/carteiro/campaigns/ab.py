"""A/B: a deterministic test set (HMAC of the address), and the winner's decision rule."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass


def bucket(seed: str, address: str) -> float:
    """A number in [0, 1) fixed by (seed, address): the same on every worker and restart."""
    digest = hmac.new(seed.encode(), address.strip().lower().encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(
    seed: str, address: str, *, fraction: float, variants: Sequence[tuple[int, int]]
) -> tuple[int | None, str]:
    """(variant id, phase): inside the test fraction a variant by weight, else the remainder
    that waits for the winner."""
    b = bucket(seed, address)
    if b >= fraction:
        return None, "remainder"
    position = b / fraction * sum(w for _, w in variants)
    for variant_id, weight in variants:
        if position < weight:
            return variant_id, "test"
        position -= weight
    return variants[-1][0], "test"


@dataclass(frozen=True)
class Arm:
    variant_id: int
    label: str
    delivered: int
    events: int

    @property
    def rate(self) -> float:
        return self.events / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class Verdict:
    variant_id: int | None
    decided_by: str  # auto, fallback, or "" when a person must decide
    probability: float | None
    reason: str


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def p_better(best: Arm, other: Arm) -> float:
    """One-sided two-proportion z-test: the confidence that `best` converts better."""
    n1, n2 = best.delivered, other.delivered
    pooled = (best.events + other.events) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 0.5
    return _normal_cdf((best.rate - other.rate) / spread)


def decide(
    arms: Sequence[Arm], *, min_per_variant: int, confidence: float, fallback: str
) -> Verdict:
    """The best arm when every arm has its minimum sample and the best beats each other arm
    with `confidence`; otherwise the fallback (control: the first variant; best: the highest
    rate; manual: nobody until a person decides)."""
    ranked = sorted(arms, key=lambda a: (-a.rate, a.variant_id))
    best = ranked[0]
    short = [a.label for a in arms if a.delivered < min_per_variant]
    if short:
        why = f"variant(s) {', '.join(short)} have fewer than {min_per_variant} delivered"
    elif best.events == 0:
        why = "no variant has any event yet"
    else:
        probability = min(p_better(best, other) for other in ranked[1:]) if ranked[1:] else 1.0
        if probability >= confidence:
            return Verdict(
                best.variant_id,
                "auto",
                probability,
                f"variant {best.label} is best with confidence {probability:.3f}",
            )
        why = f"the best variant's confidence {probability:.3f} is below {confidence:g}"
    if fallback == "manual":
        return Verdict(None, "", None, f"{why}; waiting for a person to decide")
    chosen = arms[0] if fallback == "control" else best
    return Verdict(chosen.variant_id, "fallback", None, f"{why}; fallback: {fallback}")

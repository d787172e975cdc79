"""A/B: deterministic test sets and the decision rule (minimum sample, confidence, fallback)."""

from __future__ import annotations

from collections import Counter

from carteiro.campaigns import ab


def test_assignment_is_deterministic_and_follows_fraction_and_weights() -> None:
    variants = [(1, 1), (2, 3)]
    first = [ab.assign("seed", f"u{i}@x.com", fraction=0.2, variants=variants) for i in range(5000)]
    again = [
        ab.assign("seed", f"U{i}@X.com ", fraction=0.2, variants=variants) for i in range(5000)
    ]
    assert first == again
    phases = Counter(p for _, p in first)
    assert 900 < phases["test"] < 1100
    arms = Counter(v for v, p in first if p == "test")
    assert 0.2 < arms[1] / phases["test"] < 0.3
    other = [ab.assign("other", f"u{i}@x.com", fraction=0.2, variants=variants) for i in range(50)]
    assert other != first[:50]


def arms(*spec: tuple[int, int]) -> list[ab.Arm]:
    return [ab.Arm(i + 1, "AB"[i], n, k) for i, (n, k) in enumerate(spec)]


def test_clear_winner_is_decided_automatically() -> None:
    v = ab.decide(
        arms((500, 10), (500, 40)), min_per_variant=100, confidence=0.95, fallback="control"
    )
    assert v.variant_id == 2 and v.decided_by == "auto" and v.probability and v.probability > 0.99


def test_small_samples_and_close_results_use_the_fallback() -> None:
    small = ab.decide(
        arms((50, 1), (50, 20)), min_per_variant=100, confidence=0.95, fallback="control"
    )
    assert small.variant_id == 1 and small.decided_by == "fallback"
    assert "fewer than 100" in small.reason
    close = ab.decide(
        arms((500, 20), (500, 22)), min_per_variant=100, confidence=0.95, fallback="best"
    )
    assert close.variant_id == 2 and close.decided_by == "fallback"
    nothing = ab.decide(
        arms((500, 0), (500, 0)), min_per_variant=100, confidence=0.95, fallback="manual"
    )
    assert nothing.variant_id is None and "person" in nothing.reason

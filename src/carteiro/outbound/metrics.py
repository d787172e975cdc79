"""Prometheus metrics for the send path (names fixed by the contract and the seed)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from carteiro.outbound.outcome import Outcome

EMAILS_SENT = Counter("emails_sent_total", "Messages accepted by the server", ["account"])
EMAILS_FAILED = Counter(
    "emails_failed_total", "Delivery attempts that did not succeed", ["account", "error_type"]
)
SEND_DURATION = Histogram(
    "email_send_duration_seconds",
    "Time from the start of a delivery attempt to the server's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe(outcome: Outcome) -> None:
    SEND_DURATION.observe(outcome.duration)
    if outcome.error is None:
        EMAILS_SENT.labels(account=outcome.account).inc()
    else:
        EMAILS_FAILED.labels(account=outcome.account, error_type=outcome.error.error_type).inc()

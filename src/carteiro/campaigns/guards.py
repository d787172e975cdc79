"""Guards that pause a sending campaign: hard bounces, complaints, failures."""

from __future__ import annotations

from carteiro.campaigns.models import Campaign

MIN_DELIVERED_BOUNCES = 200
MIN_DELIVERED_COMPLAINTS = 1000
MIN_ATTEMPTS_FAILURES = 50
COMPLAINT_WARNING = 0.001


def reason_to_pause(c: Campaign) -> str | None:
    """Why the campaign must stop now, or None."""
    if c.sent >= MIN_DELIVERED_BOUNCES and c.bounced_hard / c.sent > c.max_hard_bounce_rate:
        return (
            f"hard bounces {c.bounced_hard / c.sent:.1%} of {c.sent} delivered are above "
            f"{c.max_hard_bounce_rate:.1%}: clean the list before resuming"
        )
    if c.sent >= MIN_DELIVERED_COMPLAINTS and c.complained / c.sent > c.max_complaint_rate:
        return (
            f"complaints {c.complained / c.sent:.2%} of {c.sent} delivered are above "
            f"{c.max_complaint_rate:.2%} (Gmail's limit is 0.3%)"
        )
    attempts = c.sent + c.failed
    if attempts >= MIN_ATTEMPTS_FAILURES and c.failed / attempts > c.max_failure_rate:
        return (
            f"failures {c.failed / attempts:.1%} of {attempts} attempts are above "
            f"{c.max_failure_rate:.1%}: check the accounts and the list"
        )
    return None


def warnings(c: Campaign) -> list[str]:
    out = []
    if c.sent >= MIN_DELIVERED_COMPLAINTS and c.complained / c.sent > COMPLAINT_WARNING:
        out.append(f"complaints {c.complained / c.sent:.2%} are above 0.1% (Gmail's warning)")
    return out

"""Feeds bounces and complaints back to the outbound message they are about."""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.events.bus import Bounced, Bus, EmailSettled
from carteiro.inbound.models import InboxMessage
from carteiro.inbound.parse import ParsedMessage
from carteiro.inbound.reports import Report, detect, parse_verp, verp_matches
from carteiro.outbound import events
from carteiro.outbound.models import Email, EmailEvent

log = logging.getLogger("carteiro.inbox")

KINDS: dict[str, Literal["hard", "soft", "complaint"]] = {
    "bounce_hard": "hard",
    "bounce_soft": "soft",
    "complained": "complaint",
}


def _find_email(
    session: Session, *, tenant_id: int, report: Report, verp: list[str]
) -> Email | None:
    if report.original_message_id:
        email = session.scalars(
            select(Email).where(
                Email.tenant_id == tenant_id, Email.message_id == report.original_message_id
            )
        ).first()
        if email is not None:
            return email
    for address in [*verp, report.original_return_path]:
        parsed = parse_verp(address)
        if parsed is None:
            continue
        email = session.get(Email, parsed[0])
        if (
            email is not None
            and email.tenant_id == tenant_id
            and verp_matches(email.message_id, parsed[1])
        ):
            return email
    return None


def _verp_candidates(parsed: ParsedMessage) -> list[str]:
    found = [a.email for a in parsed.to]
    for key in ("delivered-to", "x-original-to"):
        value = parsed.headers.get(key)
        if value:
            found.append(value)
    return found


def process(
    session: Session, *, row: InboxMessage, parsed: ParsedMessage, bus: Bus
) -> Report | None:
    """If the message is a bounce or a complaint: mark it, record events on the original
    outbound message and publish a `Bounced` event for each failed recipient."""
    report = parsed.report if parsed.report_checked else detect(parsed)
    if not isinstance(report, Report):
        return None
    row.category = report.kind
    email = _find_email(
        session, tenant_id=row.tenant_id, report=report, verp=_verp_candidates(parsed)
    )
    if email is None:
        log.info("a %s arrived that matches no message we sent (%s)", report.kind, row.message_id)
        return report
    row.related_email_id = email.id
    known = {
        (e.type, (e.detail or {}).get("recipient"), (e.detail or {}).get("report_message_id"))
        for e in session.scalars(select(EmailEvent).where(EmailEvent.email_id == email.id))
    }
    report_id = parsed.message_id or f"inbox:{row.id}"
    recipients = [*email.to_emails, *(email.cc_emails or []), *(email.bcc_emails or [])]
    ours = {r.lower() for r in recipients}
    for outcome in report.outcomes:
        # An ARF report often hides the recipient: the original had only one, it was them.
        recipient = outcome.recipient or (recipients[0] if len(recipients) == 1 else None)
        if recipient and recipient.lower() not in ours:
            # Anyone can quote a Message-ID: a report may only speak for that message's own
            # recipients, or a forged one would suppress whatever addresses it lists.
            log.warning(
                "a %s about message %s names %s, not one of its recipients: ignored",
                report.kind,
                email.id,
                recipient,
            )
            continue
        if (outcome.kind, recipient, report_id) in known:
            continue
        detail = {
            "recipient": recipient,
            "status": outcome.status,
            "diagnostic": (outcome.diagnostic or "")[:500] or None,
            "report_message_id": report_id,
            "inbox_message_id": row.id,
        }
        if report.feedback_type:
            detail["feedback_type"] = report.feedback_type
        events.record(session, email=email, type=outcome.kind, detail=detail)
        if outcome.kind == "bounce_hard":
            reason = detail["diagnostic"] or outcome.status
            bus.publish(
                session,
                EmailSettled(
                    tenant_id=row.tenant_id,
                    email_id=email.id,
                    status="bounced",
                    detail=str(reason) if reason else None,
                ),
            )
        if recipient:
            bus.publish(
                session,
                Bounced(tenant_id=row.tenant_id, address=recipient, kind=KINDS[outcome.kind]),
            )
    return report

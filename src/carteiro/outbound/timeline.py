"""What happened to one message after it was queued: its events and the latest delivery report."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.outbound import service
from carteiro.outbound.models import Email, EmailEvent
from carteiro.outbound.schemas import DeliveryReport, EmailDetail, EmailEventPublic

# Event types that report the message's fate at the receiving end (DSN, ARF, a 5xx reply).
REPORTS = {"bounce_hard": "bounced", "bounce_soft": "bounced", "complained": "complained"}
MAX_DETAIL = 300
_ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


def events_of(session: Session, email: Email) -> list[EmailEvent]:
    """The message's events, oldest first (ids follow insertion order)."""
    stmt = select(EmailEvent).where(
        EmailEvent.tenant_id == email.tenant_id, EmailEvent.email_id == email.id
    )
    return list(session.scalars(stmt.order_by(EmailEvent.id)))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def summary(type: str, detail: dict[str, Any] | None) -> str | None:
    """One short line saying what the event's detail holds, or None when it holds nothing."""
    d = detail or {}
    parts: list[str] = []
    if type in REPORTS:
        diagnostic = d.get("diagnostic") or d.get("feedback_type") or d.get("reply")
        parts += [str(v) for v in (d.get("status"), d.get("recipient")) if v]
        if diagnostic:
            parts.append(str(diagnostic))
    elif type == "unsubscribed":
        parts.append(str(d.get("address") or ""))
    elif type == "approved" and d.get("by"):
        parts.append(f"by {d['by']}")
    else:
        if d.get("account"):
            parts.append(f"account {d['account']}")
        if d.get("reply"):
            parts.append(f"{d.get('code') or ''} {d['reply']}".strip())
        if d.get("retry"):
            parts.append(f"retry {d['retry']}")
        if d.get("refused"):
            parts.append("refused: " + ", ".join(sorted(d["refused"])))
    text = "; ".join(p for p in parts if p)
    return _clip(text) if text else None


def delivery(email: Email, events: list[EmailEvent]) -> DeliveryReport | None:
    """The latest bounce or complaint reported for the message, if any."""
    latest = next((e for e in reversed(events) if e.type in REPORTS), None)
    if latest is None:
        return None
    d = latest.detail or {}
    status = d.get("status")
    if status is None and d.get("reply"):
        found = _ENHANCED.search(str(d["reply"]))
        status = found.group(1) if found else None
    diagnostic = d.get("diagnostic") or d.get("feedback_type") or d.get("reply")
    recipients = [*email.to_emails, *(email.cc_emails or []), *(email.bcc_emails or [])]
    return DeliveryReport(
        status=REPORTS[latest.type],
        reported_at=latest.created_at,
        smtp_status=status,
        diagnostic=_clip(str(diagnostic)) if diagnostic else None,
        recipient=d.get("recipient") or (recipients[0] if len(recipients) == 1 else None),
    )


def detail(session: Session, email: Email) -> EmailDetail:
    """The message with its attempts, its event timeline and its latest delivery report."""
    rows = events_of(session, email)
    public = service.public(session, email, with_attempts=True)
    return EmailDetail(
        **public.model_dump(),
        events=[
            EmailEventPublic(type=e.type, at=e.created_at, detail=summary(e.type, e.detail))
            for e in rows
        ],
        delivery=delivery(email, rows),
    )

"""E-mail dispatches follow their e-mail: subscribed to outbound's `EmailSettled` (wiring)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.dispatches import lifecycle, metrics
from carteiro.dispatches.models import Disparo
from carteiro.events.bus import EmailSettled


def on_email_settled(session: Session, event: EmailSettled) -> None:
    """sent → enviado; failed, dead or a later hard bounce → erro and the dead-letter list."""
    d = session.scalar(
        select(Disparo).where(
            Disparo.email_message_id == event.email_id, Disparo.tenant_id == event.tenant_id
        )
    )
    if d is None:
        return
    now = utcnow()
    if event.status == "sent":
        if d.status == "pendente":
            lifecycle.mark_sent(
                session, d, message_id=None, recipient_id=None, sent_as="email", at=now
            )
            lifecycle.record(session, d, "enviado", {"email_id": event.email_id})
            metrics.observe(tenant_id=d.tenant_id, canal="email", outcome="sent")
        return
    reason = {
        "failed": "the mail server refused the e-mail",
        "dead": "the e-mail could not be delivered after its retries",
        "bounced": "the e-mail bounced",
    }[event.status]
    message = f"{reason}: {event.detail}" if event.detail else reason
    if lifecycle.fail(
        session, d, error_class=f"email_{event.status}", code=None, message=message, now=now
    ):
        metrics.observe(tenant_id=d.tenant_id, canal="email", outcome="erro")

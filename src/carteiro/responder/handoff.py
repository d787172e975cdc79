"""The inbox rules' `ai` responder: a message handed off by a rule becomes a durable job."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carteiro.events.bus import ReplyRequested
from carteiro.responder import jobs


def on_reply_requested(session: Session, event: ReplyRequested) -> None:
    """Queues the job in the sync's own transaction: the message and its job commit together."""
    jobs.enqueue(
        session,
        tenant_id=event.tenant_id,
        rule_id=event.rule_id,
        message_id=event.message_id,
        thread_id=event.thread_id,
        mode=event.mode,
    )

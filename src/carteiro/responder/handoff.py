"""The inbox rules' `ai` responder: a matching message becomes a durable responder job."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carteiro.inbound.models import InboxMessage, InboxRule
from carteiro.inbound.parse import ParsedMessage
from carteiro.inbound.rules import Handoff
from carteiro.responder import jobs

NAME = "ai"


def hand_off(
    session: Session, *, message: InboxMessage, parsed: ParsedMessage, rule: InboxRule
) -> Handoff:
    """Queues the job in the sync's own transaction: the message and its job commit together."""
    mode = (rule.template or {}).get("mode") or "review"
    job = jobs.enqueue(
        session,
        tenant_id=rule.tenant_id,
        rule_id=rule.id,
        message_id=message.id,
        thread_id=message.thread_id,
        mode=mode if mode in ("review", "send") else "review",
    )
    return Handoff(job_id=job.id)

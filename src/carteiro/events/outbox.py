"""Records an event that is not about one message; webhooks read it once the transaction commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carteiro.errors import InvalidInput
from carteiro.events.models import OutboxEvent
from carteiro.events.types import EVENT_TYPES


def emit(session: Session, *, tenant_id: int, type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Records an event that is not about one message (account_paused, unsubscribed); it is
    delivered to webhooks once this transaction commits."""
    if type not in EVENT_TYPES:
        raise InvalidInput(f"unknown event type '{type}'", field="type")
    event = OutboxEvent(tenant_id=tenant_id, type=type, payload=payload)
    # Written with the transaction's next flush (at the latest its commit): a flush here,
    # per event, made a batch of dispatch outcomes one round trip each.
    session.add(event)
    return event

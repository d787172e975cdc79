"""Appends to a message's event history."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carteiro.outbound.models import Email, EmailEvent


def record(
    session: Session, *, email: Email, type: str, detail: dict[str, Any] | None = None
) -> None:
    session.add(EmailEvent(tenant_id=email.tenant_id, email_id=email.id, type=type, detail=detail))

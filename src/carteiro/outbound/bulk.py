"""Holding, releasing and cancelling many queued messages at once (a paused or cancelled
campaign), each with its event."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from carteiro.db.base import table_of
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.outbound import wakeup
from carteiro.outbound.models import Email, EmailEvent

EMAILS = table_of(Email)


def _move(
    session: Session, ids: Sequence[int], *, start: str, to: str, event: str, reason: str
) -> list[int]:
    if not ids:
        return []
    now = utcnow()
    moved: list[int] = []
    for i in range(0, len(ids), 1000):
        part = list(ids[i : i + 1000])
        found = list(
            session.execute(
                select(EMAILS.c.id, EMAILS.c.tenant_id).where(
                    EMAILS.c.id.in_(part), EMAILS.c.status == start
                )
            )
        )
        if not found:
            continue
        dml(
            session,
            update(EMAILS)
            .where(EMAILS.c.id.in_([f.id for f in found]), EMAILS.c.status == start)
            .values(status=to, run_at=now, updated_at=now),
        )
        session.execute(
            insert(table_of(EmailEvent)),
            [
                {
                    "tenant_id": f.tenant_id,
                    "email_id": f.id,
                    "type": event,
                    "detail": {"reason": reason},
                    "created_at": now,
                }
                for f in found
            ],
        )
        moved.extend(f.id for f in found)
    return moved


def hold(session: Session, *, ids: Sequence[int], reason: str) -> list[int]:
    """Pending messages among `ids` become held (a message already sending is left alone)."""
    return _move(session, ids, start="pending", to="held", event="held", reason=reason)


def release(session: Session, *, ids: Sequence[int], reason: str) -> list[int]:
    """Held messages among `ids` become pending again, due now."""
    moved = _move(session, ids, start="held", to="pending", event="approved", reason=reason)
    if moved:
        wakeup.after_commit(session)
    return moved


def cancel(session: Session, *, ids: Sequence[int], reason: str) -> list[int]:
    """Pending or held messages among `ids` are cancelled."""
    done = _move(session, ids, start="pending", to="cancelled", event="cancelled", reason=reason)
    done += _move(session, ids, start="held", to="cancelled", event="cancelled", reason=reason)
    return done

"""A dispatch's state machine: monotone transitions, the event log, the dead-letter list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.db import upsert
from carteiro.db.types import utcnow
from carteiro.dispatches import alarm
from carteiro.dispatches.models import Disparo, DisparoDeadLetter, DisparoEvent
from carteiro.events import outbox

DEAD_LETTER_DAYS = 14.0
# pendente → enviado → confirmado; erro and cancelado end it. A late `delivered` after an
# error is recorded but never brings the dispatch back.
RANK = {"pendente": 0, "enviado": 1, "confirmado": 2}


def record(
    session: Session,
    d: Disparo,
    kind: str,
    detail: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Appends an event; False (and nothing written) when `dedupe_key` was seen already."""
    if dedupe_key is None:
        event = DisparoEvent(
            tenant_id=d.tenant_id, disparo_id=d.disparo_id, kind=kind, detail=detail
        )
        if at is not None:
            event.created_at = at
        session.add(event)
        return True
    # One statement, safe against a concurrent replay: a savepoint around an INSERT that
    # may fail cost three round trips per webhook status.
    stmt = (
        upsert.insert(session, DisparoEvent)
        .values(
            tenant_id=d.tenant_id,
            disparo_id=d.disparo_id,
            kind=kind,
            detail=detail,
            dedupe_key=dedupe_key,
            created_at=at or utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["disparo_id", "dedupe_key"])
        .returning(DisparoEvent.id)
    )
    return session.execute(stmt).first() is not None


def events(session: Session, *, disparo_id: int) -> list[DisparoEvent]:
    stmt = select(DisparoEvent).where(DisparoEvent.disparo_id == disparo_id)
    return list(session.scalars(stmt.order_by(DisparoEvent.id)))


def mark_sent(
    session: Session,
    d: Disparo,
    *,
    message_id: str | None,
    recipient_id: str | None,
    sent_as: str | None,
    at: datetime,
) -> None:
    if d.status == "pendente":
        d.status = "enviado"
        notify(session, d, "dispatch_sent")
    d.provider_message_id = message_id or d.provider_message_id
    d.recipient_id = recipient_id or d.recipient_id
    d.sent_as = sent_as or d.sent_as
    d.data_envio = d.data_envio or at
    d.mensagem_erro = d.error_class = d.error_code = None
    _release(d)


def mark_confirmed(session: Session, d: Disparo, *, at: datetime) -> bool:
    """Delivered or read; only forward (a confirmed, failed or cancelled one stays)."""
    if d.status not in ("pendente", "enviado"):
        return False
    d.status = "confirmado"
    d.data_envio = d.data_envio or at
    d.data_retorno = at
    _release(d)
    notify(session, d, "dispatch_confirmed")
    return True


def fail(
    session: Session,
    d: Disparo,
    *,
    error_class: str,
    code: str | None,
    message: str,
    now: datetime,
    dead_letter_days: float = DEAD_LETTER_DAYS,
) -> bool:
    """A final error: `erro`, and a dead-letter entry kept `dead_letter_days`."""
    if d.status not in ("pendente", "enviado"):
        return False
    d.status = "erro"
    d.error_class, d.error_code, d.mensagem_erro = error_class, code, message[:2000]
    d.data_retorno = now
    _release(d)
    record(session, d, "erro", {"class": error_class, "code": code, "message": message[:500]})
    notify(session, d, "dispatch_failed")
    alarm.check(session, tenant_id=d.tenant_id, canal=d.canal, now=now)
    if session.get(DisparoDeadLetter, d.disparo_id) is None:
        session.add(
            DisparoDeadLetter(
                disparo_id=d.disparo_id,
                tenant_id=d.tenant_id,
                motivo=message[:2000],
                error_class=error_class,
                moved_at=now,
                expires_at=now + timedelta(days=dead_letter_days),
            )
        )
    return True


def retry_later(
    session: Session,
    d: Disparo,
    *,
    at: datetime,
    error_class: str,
    code: str | None,
    message: str,
) -> None:
    d.run_at = at
    d.error_class, d.error_code, d.mensagem_erro = error_class, code, message[:2000]
    _release(d)
    record(session, d, "retry", {"at": at.isoformat(), "class": error_class, "code": code})


def notify(session: Session, d: Disparo, type: str) -> None:
    """The change as an outgoing webhook event (delivered once the transaction commits)."""
    outbox.emit(
        session,
        tenant_id=d.tenant_id,
        type=type,
        payload={
            "disparo_id": d.disparo_id,
            "lead_id": d.lead_id,
            "canal": d.canal,
            "status": d.status,
            "template": d.template,
            "purpose": d.purpose,
            "provider_message_id": d.provider_message_id,
            "error_class": d.error_class,
            "error_code": d.error_code,
            "mensagem_erro": d.mensagem_erro,
        },
    )


def _release(d: Disparo) -> None:
    d.lease_owner = None
    d.lease_until = None
    d.inflight_at = None
    d.awaiting_until = None

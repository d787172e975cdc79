"""The append-only event log of an appointment, and the webhook event each change emits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carteiro.appointments.models import Agendamento, AgendamentoEvento
from carteiro.db.types import utcnow
from carteiro.events.models import OutboxEvent
from carteiro.events.outbox import emit

# Log entries that are also webhook events, by the event type subscribers choose.
WEBHOOK_TYPES = {
    "criado": "appointment_created",
    "reagendado": "appointment_rescheduled",
    "cancelado": "appointment_cancelled",
    "realizado": "appointment_done",
    "nao_compareceu": "appointment_no_show",
    "lembrete_enviado": "appointment_reminder",
    "lembrete_pulado": "appointment_reminder",
    "callback_agendado": "callback_requested",
}


def payload(ag: Agendamento) -> dict[str, Any]:
    return {
        "agendamento_id": ag.agendamento_id,
        "lead_id": ag.lead_id,
        "tipo": ag.tipo,
        "canal": ag.canal,
        "status": ag.status,
        "data_agendada": ag.data_agendada.isoformat(),
        "timezone": ag.timezone,
        "owner_user_id": ag.owner_user_id,
    }


def record(
    session: Session,
    ag: Agendamento,
    tipo: str,
    *,
    ator: str | None,
    detalhe: dict[str, Any] | None = None,
) -> AgendamentoEvento:
    """Appends one entry; entries are never changed or removed (only with the appointment)."""
    entry = AgendamentoEvento(
        tenant_id=ag.tenant_id,
        agendamento_id=ag.agendamento_id,
        tipo=tipo,
        detalhe=detalhe or {},
        ator=ator,
    )
    session.add(entry)
    webhook = WEBHOOK_TYPES.get(tipo)
    if webhook is not None:
        data = {**payload(ag), "evento": tipo, **(detalhe or {})}
        emit(session, tenant_id=ag.tenant_id, type=webhook, payload=data)
    return entry


def record_many(
    session: Session,
    items: list[tuple[Agendamento, str, dict[str, Any]]],
    *,
    ator: str | None,
) -> None:
    """`record` for many entries at once: two bulk inserts (a reminder round's outcomes)."""
    if not items:
        return
    now = utcnow()
    session.execute(
        insert(AgendamentoEvento),
        [
            {
                "tenant_id": ag.tenant_id,
                "agendamento_id": ag.agendamento_id,
                "tipo": tipo,
                "detalhe": detalhe,
                "ator": ator,
                "created_at": now,
            }
            for ag, tipo, detalhe in items
        ],
    )
    events = [
        {
            "tenant_id": ag.tenant_id,
            "type": WEBHOOK_TYPES[tipo],
            "payload": {**payload(ag), "evento": tipo, **detalhe},
            "created_at": now,
        }
        for ag, tipo, detalhe in items
        if tipo in WEBHOOK_TYPES
    ]
    if events:
        session.execute(insert(OutboxEvent), events)


def entries(session: Session, *, agendamento_id: int) -> list[AgendamentoEvento]:
    return list(
        session.scalars(
            select(AgendamentoEvento)
            .where(AgendamentoEvento.agendamento_id == agendamento_id)
            .order_by(AgendamentoEvento.id)
        )
    )

"""Public shapes of appointments, built with their reminders and lead names in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.appointments import log, reminders
from carteiro.appointments.models import Agendamento, Lembrete, Notificacao
from carteiro.appointments.schemas import (
    AgendamentoCreated,
    AgendamentoDetail,
    AgendamentoPage,
    AgendamentoPublic,
    EventoPublic,
    LembretePublic,
    NotificacaoPublic,
)
from carteiro.leads.models import Lead


def created(ag: Agendamento) -> AgendamentoCreated:
    return AgendamentoCreated(
        agendamento_id=ag.agendamento_id, status=ag.status, data_agendada=ag.data_agendada
    )


def lembrete(row: Lembrete) -> LembretePublic:
    return LembretePublic.model_validate(row, from_attributes=True)


def _names(session: Session, lead_ids: set[int]) -> dict[int, str | None]:
    if not lead_ids:
        return {}
    rows = session.execute(
        select(Lead.lead_id, Lead.nome, Lead.contato_nome).where(Lead.lead_id.in_(lead_ids))
    )
    return {r.lead_id: r.nome or r.contato_nome for r in rows}


def _public(ag: Agendamento, name: str | None, rows: list[Lembrete]) -> AgendamentoPublic:
    return AgendamentoPublic(
        agendamento_id=ag.agendamento_id,
        lead_id=ag.lead_id,
        lead_nome=name,
        tipo=ag.tipo,
        canal=ag.canal,
        data_agendada=ag.data_agendada,
        duracao_minutos=ag.duracao_minutos,
        timezone=ag.timezone,
        status=ag.status,
        observacoes=ag.observacoes,
        owner_user_id=ag.owner_user_id,
        video_url=ag.video_url,
        ics_uid=ag.ics_uid,
        ics_sequence=ag.ics_sequence,
        realizado_em=ag.realizado_em,
        cancelado_em=ag.cancelado_em,
        motivo_cancelamento=ag.motivo_cancelamento,
        created_at=ag.created_at,
        updated_at=ag.updated_at,
        lembretes=[lembrete(r) for r in rows],
    )


def many(session: Session, items: Sequence[Agendamento]) -> list[AgendamentoPublic]:
    ids = [ag.agendamento_id for ag in items]
    rows = reminders.of(session, agendamento_ids=ids)
    names = _names(session, {ag.lead_id for ag in items})
    return [_public(ag, names.get(ag.lead_id), rows[ag.agendamento_id]) for ag in items]


def one(session: Session, ag: Agendamento) -> AgendamentoPublic:
    return many(session, [ag])[0]


def detail(session: Session, ag: Agendamento) -> AgendamentoDetail:
    base = one(session, ag)
    events = [
        EventoPublic.model_validate(e, from_attributes=True)
        for e in log.entries(session, agendamento_id=ag.agendamento_id)
    ]
    return AgendamentoDetail(**base.model_dump(), eventos=events)


def page(
    session: Session, items: Sequence[Agendamento], *, total: int, limit: int, offset: int
) -> AgendamentoPage:
    return AgendamentoPage(items=many(session, items), total=total, limit=limit, offset=offset)


def notificacao(row: Notificacao) -> NotificacaoPublic:
    return NotificacaoPublic.model_validate(row, from_attributes=True)


def day_bounds(day: date, zone: str, *, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants a local day (or `days` days from it) starts and ends in `zone`."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=days), time(0), tzinfo=tz)
    return start, end

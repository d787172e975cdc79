"""Appointment endpoints (seed: agendamentos): book, list, read, reschedule, cancel, done."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import Header, Query, Response, status

from carteiro.api.deps import LeadsReadKey, LeadsWriteKey, Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.appointments import notifications, public, reminders, service
from carteiro.appointments.schemas import (
    AgendamentoCancel,
    AgendamentoCreate,
    AgendamentoCreated,
    AgendamentoDetail,
    AgendamentoDone,
    AgendamentoPage,
    AgendamentoPublic,
    AgendamentoUpdate,
    Canal,
    NotificacaoPublic,
    ReminderDefaults,
    Status,
    Tipo,
)
from carteiro.appointments.zones import check_zone
from carteiro.errors import InvalidInput

router = Router(tags=["appointments"])


@router.post(
    "/leads/{lead_id}/agendamentos",
    response_model=AgendamentoCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Book a callback or meeting with a lead (reminders and invitation included)",
    responses={200: {"description": "Idempotent repeat: the first appointment is returned"}},
)
def create_appointment(
    lead_id: PathId,
    data: AgendamentoCreate,
    response: Response,
    principal: LeadsWriteKey,
    rt: Rt,
    session: Tx,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> AgendamentoCreated:
    ag, new = service.create(
        session,
        principal=principal,
        lead_id=lead_id,
        data=data,
        settings=rt.settings,
        idempotency_key=idempotency_key,
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return public.created(ag)


@router.get(
    "/agendamentos",
    response_model=AgendamentoPage,
    summary="Appointments by day or period, status, owner, lead; soonest first",
)
def list_appointments(
    principal: LeadsReadKey,
    session: Tx,
    rt: Rt,
    dia: date | None = Query(None, description="a local day (YYYY-MM-DD) in `timezone`"),
    dias: int = Query(1, ge=1, le=62, description="with dia: how many days (7 = a week)"),
    timezone: str | None = Query(None, max_length=64, description="IANA zone of `dia`"),
    de: datetime | None = Query(None, description="from this instant (ISO 8601 with offset)"),
    ate: datetime | None = Query(None, description="until this instant (exclusive)"),
    status_: Status | None = Query(None, alias="status"),
    owner_user_id: int | None = Query(None, ge=1),
    lead_id: int | None = Query(None, ge=1),
    tipo: Tipo | None = Query(None),
    canal: Canal | None = Query(None),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
) -> AgendamentoPage:
    start, end = de, ate
    for name, value in (("de", de), ("ate", ate)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                f"{name}: give a UTC offset, e.g. 2030-01-31T09:00:00-03:00", field=name
            )
    if dia is not None:
        try:
            zone = check_zone(timezone or rt.settings.default_timezone)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="timezone") from None
        start, end = public.day_bounds(dia, zone, days=dias)
    items, total = service.list_(
        session,
        tenant_id=principal.tenant_id,
        start=start,
        end=end,
        status=status_,
        owner_user_id=owner_user_id,
        lead_id=lead_id,
        tipo=tipo,
        canal=canal,
        limit=limit,
        offset=offset,
    )
    return public.page(session, items, total=total, limit=limit, offset=offset)


@router.get(
    "/agendamentos/{agendamento_id}",
    response_model=AgendamentoDetail,
    summary="One appointment with its reminders and its event log",
)
def get_appointment(
    agendamento_id: PathId, principal: LeadsReadKey, session: Tx
) -> AgendamentoDetail:
    ag = service.get_or_raise(session, tenant_id=principal.tenant_id, agendamento_id=agendamento_id)
    return public.detail(session, ag)


@router.patch(
    "/agendamentos/{agendamento_id}",
    response_model=AgendamentoPublic,
    summary="Reschedule (new data_agendada) or change an open appointment",
    description="A new time replaces the pending reminders and sends the invitation again "
    "(same UID, SEQUENCE + 1).",
)
def update_appointment(
    agendamento_id: PathId,
    data: AgendamentoUpdate,
    principal: LeadsWriteKey,
    rt: Rt,
    session: Tx,
) -> AgendamentoPublic:
    ag = service.update(
        session,
        principal=principal,
        agendamento_id=agendamento_id,
        data=data,
        settings=rt.settings,
    )
    return public.one(session, ag)


@router.post(
    "/agendamentos/{agendamento_id}/cancel",
    response_model=AgendamentoPublic,
    summary="Cancel an appointment (motivo_cancelamento required)",
)
def cancel_appointment(
    agendamento_id: PathId,
    data: AgendamentoCancel,
    principal: LeadsWriteKey,
    rt: Rt,
    session: Tx,
) -> AgendamentoPublic:
    ag = service.cancel(
        session,
        principal=principal,
        agendamento_id=agendamento_id,
        data=data,
        settings=rt.settings,
    )
    return public.one(session, ag)


@router.post(
    "/agendamentos/{agendamento_id}/realizado",
    response_model=AgendamentoPublic,
    summary="Mark an appointment done",
)
def mark_done(
    agendamento_id: PathId,
    principal: LeadsWriteKey,
    session: Tx,
    data: AgendamentoDone | None = None,
) -> AgendamentoPublic:
    ag = service.complete(
        session,
        principal=principal,
        agendamento_id=agendamento_id,
        status="realizado",
        observacoes=data.observacoes if data else None,
    )
    return public.one(session, ag)


@router.post(
    "/agendamentos/{agendamento_id}/nao_compareceu",
    response_model=AgendamentoPublic,
    summary="Mark a no-show: the lead did not attend",
)
def mark_no_show(
    agendamento_id: PathId,
    principal: LeadsWriteKey,
    session: Tx,
    data: AgendamentoDone | None = None,
) -> AgendamentoPublic:
    ag = service.complete(
        session,
        principal=principal,
        agendamento_id=agendamento_id,
        status="nao_compareceu",
        observacoes=data.observacoes if data else None,
    )
    return public.one(session, ag)


@router.get(
    "/agendamentos-notificacoes",
    response_model=list[NotificacaoPublic],
    summary="Notes for people: callbacks to make and their reminders, newest first",
)
def list_notifications(
    principal: LeadsReadKey,
    session: Tx,
    unread: bool = Query(False, description="only the unread ones"),
    limit: int = Query(50, ge=1, le=notifications.MAX_PAGE),
) -> list[NotificacaoPublic]:
    rows = notifications.list_(
        session, tenant_id=principal.tenant_id, unread_only=unread, limit=limit
    )
    return [public.notificacao(r) for r in rows]


@router.put(
    "/agendamentos-config/lembretes",
    response_model=ReminderDefaults,
    summary="This tenant's default reminder offsets (minutes before the start)",
)
def set_reminder_defaults(
    data: ReminderDefaults, principal: LeadsWriteKey, session: Tx
) -> ReminderDefaults:
    offsets = reminders.set_tenant_offsets(
        session, tenant_id=principal.tenant_id, offsets=data.lembretes_minutos
    )
    return ReminderDefaults(lembretes_minutos=offsets)

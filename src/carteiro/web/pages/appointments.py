"""Appointments in the console: a day or week calendar with reminders, a booking form, one
appointment (reschedule, cancel, done, no-show) and the people's callback notes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from babel.dates import format_date
from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.appointments import notifications, public, service, zones
from carteiro.appointments.schemas import AgendamentoCancel, AgendamentoCreate, AgendamentoUpdate
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.leads import service as leads
from carteiro.web import acting, render
from carteiro.web.deps import Operator, Person, WebPerson

router = Router(include_in_schema=False)

TIPO_LABELS = {"callback": render.N_("callback"), "reuniao": render.N_("meeting")}
CANAL_LABELS = {
    "telefone": render.N_("phone"),
    "whatsapp": render.N_("WhatsApp"),
    "video": render.N_("video call"),
}
# Own words rather than the outbox's "sent" or "cancelled": Portuguese needs the masculine.
STATUS_LABELS = {
    "pendente": render.N_("scheduled"),
    "realizado": render.N_("held"),
    "cancelado": render.N_("called off"),
    "nao_compareceu": render.N_("no-show"),
}
REMINDER_LABELS = {
    "agendado": render.N_("to be sent"),
    "enviado": render.N_("fired"),
    "cancelado": render.N_("withdrawn"),
    "pulado": render.N_("skipped"),
}
CHANNEL_LABELS = {
    "email": render.N_("e-mail to the lead"),
    "whatsapp": render.N_("WhatsApp to the lead"),
    "owner": render.N_("note to the owner"),
}
NOTICES = {
    "created": render.N_("Booked: the reminders are scheduled."),
    "moved": render.N_("Rescheduled: new reminders and an updated invitation."),
    "cancelled": render.N_("Cancelled: no reminder will be sent."),
    "closed": render.N_("Saved."),
    "read": render.N_("Notes marked as read."),
}
FIELD_MESSAGES = {
    "data": render.N_("Give the day."),
    "hora": render.N_("Give the time, e.g. 14:30."),
    "data_agendada": render.N_("Choose a day and time from now on."),
    "timezone": render.N_("Choose a time zone such as America/Sao_Paulo."),
    "motivo_cancelamento": render.N_("Say why the appointment is cancelled."),
    "tipo": render.N_("Choose callback or meeting."),
    "canal": render.N_("Choose phone, WhatsApp or video call."),
}
ZONES = (
    "America/Sao_Paulo",
    "America/Manaus",
    "America/Cuiaba",
    "America/Rio_Branco",
    "America/Noronha",
    "America/Belem",
    "America/Fortaleza",
    "UTC",
)
LABELS = {
    "tipos": TIPO_LABELS,
    "canais": CANAL_LABELS,
    "statuses": STATUS_LABELS,
    "reminders": REMINDER_LABELS,
    "channels": CHANNEL_LABELS,
}


def _day(raw: str | None, person: WebPerson) -> date:
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput("dia: give the day as YYYY-MM-DD", field="dia") from None
    return zones.local(datetime.now().astimezone(), person.timezone).date()


def _message(request: Request, exc: CarteiroError) -> str:
    msgid = FIELD_MESSAGES.get(exc.field or "")
    return render.text(request, msgid) if msgid else exc.message


@router.get("/ui/agendamentos")
def calendar(
    request: Request,
    session: Tx,
    person: Person,
    dia: Annotated[str | None, Query(max_length=10)] = None,
    vista: Annotated[str, Query(pattern="^(dia|semana)$")] = "semana",
    notice: str | None = None,
) -> HTMLResponse:
    day = _day(dia, person)
    first = day - timedelta(days=day.weekday()) if vista == "semana" else day
    count = 7 if vista == "semana" else 1
    start, end = public.day_bounds(first, person.timezone, days=count)
    items, _ = service.list_(
        session, tenant_id=person.tenant_id, start=start, end=end, limit=service.MAX_PAGE
    )
    shown = public.many(session, items)
    locale = render.locale_of(request)
    days: list[dict[str, Any]] = []
    for offset in range(count):
        current = first + timedelta(days=offset)
        entries = []
        for a in shown:
            at = zones.local(a.data_agendada, person.timezone)
            if at.date() == current:
                entries.append({"ag": a, "hora": f"{at:%H:%M}"})
        days.append(
            {
                "day": current.isoformat(),
                "label": format_date(current, format="full", locale=locale),
                "entries": entries,
            }
        )
    notes = notifications.list_(
        session, tenant_id=person.tenant_id, user_id=person.user_id, unread_only=True, limit=20
    )
    step = timedelta(days=count)
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "appointments.html",
        {
            "section": "leads",
            "tab": "appointments",
            "days": days,
            "vista": vista,
            "today": _day(None, person).isoformat(),
            "prev": (first - step).isoformat(),
            "next": (first + step).isoformat(),
            "notes": notes,
            "can_edit": person.at_least("operator"),
            "notice": render.text(request, msgid) if msgid else None,
            **LABELS,
        },
    )


@router.post("/ui/agendamentos/notas/lidas")
def notes_read(
    session: Tx, person: Person, ids: Annotated[list[int] | None, Form()] = None
) -> Response:
    notifications.mark_read(session, tenant_id=person.tenant_id, ids=list(ids or []))
    return RedirectResponse("/ui/agendamentos?notice=read", status_code=303)


def _form_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    lead_id: int,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lead = leads.get_or_raise(session, tenant_id=person.tenant_id, lead_id=lead_id)
    tomorrow = _day(None, person) + timedelta(days=1)
    defaults = {
        "tipo": "callback",
        "canal": "telefone",
        "data": tomorrow.isoformat(),
        "hora": "10:00",
        "timezone": person.timezone,
        "observacoes": "",
    }
    return render.page(
        request,
        "appointment_form.html",
        {
            "section": "leads",
            "tab": "appointments",
            "lead": lead,
            "values": values or defaults,
            "zones": ZONES,
            "error": error,
            "field": field,
            **LABELS,
        },
        status=status,
    )


@router.get("/ui/agendamentos/novo")
def appointment_new(
    request: Request, session: Tx, person: Operator, lead_id: Annotated[int, Query(ge=1)]
) -> HTMLResponse:
    return _form_page(request, session, person, lead_id)


@router.post("/ui/agendamentos")
def appointment_create(
    request: Request,
    session: Tx,
    person: Operator,
    rt: Rt,
    lead_id: Annotated[int, Form(ge=1)],
    tipo: Annotated[str, Form(max_length=16)] = "",
    canal: Annotated[str, Form(max_length=16)] = "",
    data: Annotated[str, Form(max_length=10)] = "",
    hora: Annotated[str, Form(max_length=8)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
    observacoes: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    values = {
        "tipo": tipo,
        "canal": canal,
        "data": data,
        "hora": hora,
        "timezone": timezone,
        "observacoes": observacoes,
    }
    try:
        if tipo not in TIPO_LABELS:
            raise InvalidInput("choose a type", field="tipo")
        if canal not in CANAL_LABELS:
            raise InvalidInput("choose a channel", field="canal")
        zone = timezone or person.timezone
        when = zones.from_local(data, hora, zone)
        body = AgendamentoCreate.model_validate(
            {
                "tipo": tipo,
                "canal": canal,
                "data_agendada": when,
                "timezone": zone,
                "observacoes": observacoes.strip() or None,
            }
        )
        ag, _ = service.create(
            session,
            principal=acting.principal(person),
            lead_id=lead_id,
            data=body,
            settings=rt.settings,
            actor=person.email,
            owner_user_id=person.user_id,
        )
    except CarteiroError as exc:
        return _form_page(
            request,
            session,
            person,
            lead_id,
            values=values,
            error=_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    acting.record(
        request, session, person, "appointment_create", target_type="agendamento",
        target_id=ag.agendamento_id,
    )  # fmt: skip
    return RedirectResponse(f"/ui/agendamentos/{ag.agendamento_id}?notice=created", status_code=303)


def _detail_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    agendamento_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ag = service.get_or_raise(session, tenant_id=person.tenant_id, agendamento_id=agendamento_id)
    detail = public.detail(session, ag)
    local = zones.local(detail.data_agendada, person.timezone)
    lead_zone = zones.local(detail.data_agendada, detail.timezone)
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "appointment.html",
        {
            "section": "leads",
            "tab": "appointments",
            "ag": detail,
            "open": detail.status == "pendente",
            "move": {"data": local.date().isoformat(), "hora": f"{local:%H:%M}"},
            "lead_time": f"{lead_zone:%d/%m/%Y %H:%M} ({detail.timezone})",
            "can_edit": person.at_least("operator"),
            "notice": render.text(request, msgid) if msgid else None,
            "error": error,
            "field": field,
            **LABELS,
        },
        status=status,
    )


@router.get("/ui/agendamentos/{agendamento_id}")
def appointment_page(
    request: Request,
    session: Tx,
    person: Person,
    agendamento_id: PathId,
    notice: str | None = None,
) -> HTMLResponse:
    return _detail_page(request, session, person, agendamento_id, notice=notice)


@router.post("/ui/agendamentos/{agendamento_id}/reagendar")
def appointment_move(
    request: Request,
    session: Tx,
    person: Operator,
    rt: Rt,
    agendamento_id: PathId,
    data: Annotated[str, Form(max_length=10)] = "",
    hora: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        when = zones.from_local(data, hora, person.timezone)
        service.update(
            session,
            principal=acting.principal(person),
            agendamento_id=agendamento_id,
            data=AgendamentoUpdate(data_agendada=when),
            settings=rt.settings,
            actor=person.email,
        )
    except CarteiroError as exc:
        return _detail_page(
            request, session, person, agendamento_id, error=_message(request, exc),
            field=exc.field, status=exc.status,
        )  # fmt: skip
    return RedirectResponse(f"/ui/agendamentos/{agendamento_id}?notice=moved", status_code=303)


@router.post("/ui/agendamentos/{agendamento_id}/cancelar")
def appointment_cancel(
    request: Request,
    session: Tx,
    person: Operator,
    rt: Rt,
    agendamento_id: PathId,
    motivo_cancelamento: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        if not motivo_cancelamento.strip():
            raise InvalidInput("motivo_cancelamento is required", field="motivo_cancelamento")
        service.cancel(
            session,
            principal=acting.principal(person),
            agendamento_id=agendamento_id,
            data=AgendamentoCancel(motivo_cancelamento=motivo_cancelamento),
            settings=rt.settings,
            actor=person.email,
        )
    except CarteiroError as exc:
        return _detail_page(
            request, session, person, agendamento_id, error=_message(request, exc),
            field=exc.field, status=exc.status,
        )  # fmt: skip
    return RedirectResponse(f"/ui/agendamentos/{agendamento_id}?notice=cancelled", status_code=303)


@router.post("/ui/agendamentos/{agendamento_id}/encerrar")
def appointment_close(
    request: Request,
    session: Tx,
    person: Operator,
    agendamento_id: PathId,
    resultado: Annotated[str, Form(max_length=16)] = "realizado",
) -> Response:
    try:
        service.complete(
            session,
            principal=acting.principal(person),
            agendamento_id=agendamento_id,
            status=resultado,
            actor=person.email,
        )
    except CarteiroError as exc:
        return _detail_page(
            request, session, person, agendamento_id, error=_message(request, exc),
            field=exc.field, status=exc.status,
        )  # fmt: skip
    return RedirectResponse(f"/ui/agendamentos/{agendamento_id}?notice=closed", status_code=303)

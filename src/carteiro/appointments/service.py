"""Appointment verbs: book, reschedule, cancel, mark done or no-show, read and list."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.appointments import invitations, log, metrics, notifications, reminders, zones
from carteiro.appointments.ics import Method
from carteiro.appointments.models import Agendamento
from carteiro.appointments.schemas import (
    AgendamentoCancel,
    AgendamentoCreate,
    AgendamentoUpdate,
)
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, Conflict, InvalidInput, NotFound
from carteiro.leads import service as leads
from carteiro.leads.models import Lead
from carteiro.tenancy.models import User
from carteiro.tenancy.service import Principal

MAX_PAGE = 500
# A booking this far in the past is a typo, not a record of a call made.
PAST_TOLERANCE = timedelta(minutes=5)
FINAL = ("realizado", "cancelado", "nao_compareceu")


def _check_owner(session: Session, *, tenant_id: int, user_id: int | None) -> None:
    if user_id is None:
        return
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or user.disabled:
        raise InvalidInput(f"no active person with id {user_id}", field="owner_user_id")


def _check_future(when: datetime, now: datetime) -> None:
    if when < now - PAST_TOLERANCE:
        raise InvalidInput(
            "data_agendada is in the past; give a future date and time with its UTC offset",
            field="data_agendada",
        )


def find_by_idempotency_key(session: Session, *, tenant_id: int, key: str) -> Agendamento | None:
    return session.scalar(
        select(Agendamento).where(
            Agendamento.tenant_id == tenant_id, Agendamento.idempotency_key == key
        )
    )


def _actor(principal: Principal, actor: str | None) -> str:
    return actor or principal.key_name


def _invite(
    session: Session,
    ag: Agendamento,
    lead: Lead,
    *,
    method: Method,
    principal: Principal,
    settings: Settings,
    actor: str,
) -> None:
    """Sends the invitation if the lead has an address; a refusal (suppressed address, the
    key's allow-list) is logged on the appointment and never undoes the booking."""
    if not ag.enviar_convite:
        return
    address = reminders.lead_email(session, lead_id=lead.lead_id)
    if address is None:
        log.record(session, ag, "convite_nao_enviado", ator=actor, detalhe={"motivo": "no e-mail"})
        return
    try:
        with session.begin_nested():
            email_id = invitations.send(
                session,
                ag=ag,
                lead=lead,
                to=address.email,
                method=method,
                principal=principal,
                settings=settings,
            )
    except CarteiroError as exc:
        log.record(session, ag, "convite_nao_enviado", ator=actor, detalhe={"motivo": exc.message})
        return
    log.record(
        session,
        ag,
        "convite_enviado",
        ator=actor,
        detalhe={
            "method": method,
            "sequence": ag.ics_sequence,
            "email_id": email_id,
            "to": address.email,
        },
    )


def create(
    session: Session,
    *,
    principal: Principal,
    lead_id: int,
    data: AgendamentoCreate,
    settings: Settings,
    idempotency_key: str | None = None,
    actor: str | None = None,
    owner_user_id: int | None = None,
) -> tuple[Agendamento, bool]:
    """Books an appointment with its reminders (and invitation); returns it and whether it is
    new (False: an idempotent repeat of the same Idempotency-Key)."""
    tenant_id = principal.tenant_id
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key"
            )
        existing = find_by_idempotency_key(session, tenant_id=tenant_id, key=idempotency_key)
        if existing is not None:
            return existing, False
    lead = leads.get_or_raise(session, tenant_id=tenant_id, lead_id=lead_id)
    owner = data.owner_user_id if data.owner_user_id is not None else owner_user_id
    _check_owner(session, tenant_id=tenant_id, user_id=owner)
    now = utcnow()
    _check_future(data.data_agendada, now)
    uid = uuid.uuid4().hex
    ag = Agendamento(
        tenant_id=tenant_id,
        lead_id=lead.lead_id,
        tipo=data.tipo,
        canal=data.canal,
        data_agendada=data.data_agendada,
        duracao_minutos=data.duracao_minutos or settings.appointment_duration_minutes,
        timezone=data.timezone or settings.default_timezone,
        status="pendente",
        observacoes=data.observacoes,
        owner_user_id=owner,
        lembretes_minutos=data.lembretes_minutos,
        enviar_convite=data.enviar_convite,
        ics_uid=f"agendamento-{uid}@carteiro",
        ics_sequence=0,
        video_url=settings.appointment_meeting_url.replace("{uid}", uid)
        if data.canal == "video"
        else None,
        idempotency_key=idempotency_key,
        created_by=_actor(principal, actor),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(ag)
            session.flush()
    except IntegrityError:
        if idempotency_key is None:
            raise
        existing = find_by_idempotency_key(session, tenant_id=tenant_id, key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    who = _actor(principal, actor)
    log.record(session, ag, "criado", ator=who)
    reminders.plan(session, ag, settings=settings, now=now)
    if ag.canal == "telefone":
        name = lead.contato_nome or lead.nome or f"lead {lead.lead_id}"
        when = zones.spoken(ag.data_agendada, ag.timezone)
        notifications.notify(
            session, ag, tipo="callback", mensagem=f"Retorno a {name} marcado para {when}"
        )
        log.record(session, ag, "callback_agendado", ator=who)
    _invite(session, ag, lead, method="REQUEST", principal=principal, settings=settings, actor=who)
    metrics.count_created(session, tenant_id=tenant_id, canal=ag.canal)
    session.flush()
    return ag, True


def get(session: Session, *, tenant_id: int, agendamento_id: int) -> Agendamento | None:
    ag = session.get(Agendamento, agendamento_id)
    return ag if ag is not None and ag.tenant_id == tenant_id else None


def get_or_raise(session: Session, *, tenant_id: int, agendamento_id: int) -> Agendamento:
    ag = get(session, tenant_id=tenant_id, agendamento_id=agendamento_id)
    if ag is None:
        raise NotFound(f"appointment {agendamento_id} not found")
    return ag


def _lock(session: Session, *, tenant_id: int, agendamento_id: int) -> Agendamento:
    """The row, locked on PostgreSQL until commit: changes to one appointment run one at a time."""
    stmt = select(Agendamento).where(
        Agendamento.agendamento_id == agendamento_id, Agendamento.tenant_id == tenant_id
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ag = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if ag is None:
        raise NotFound(f"appointment {agendamento_id} not found")
    return ag


def _open(ag: Agendamento, verb: str) -> None:
    if ag.status in FINAL:
        raise Conflict(f"appointment {ag.agendamento_id} is {ag.status}; it cannot be {verb}")


def update(
    session: Session,
    *,
    principal: Principal,
    agendamento_id: int,
    data: AgendamentoUpdate,
    settings: Settings,
    actor: str | None = None,
) -> Agendamento:
    """Changes an open appointment. A new time (or zone, duration, offsets) replaces its
    pending reminders and sends the invitation again with the same UID and SEQUENCE + 1."""
    ag = _lock(session, tenant_id=principal.tenant_id, agendamento_id=agendamento_id)
    _open(ag, "rescheduled")
    fields = data.model_fields_set
    now = utcnow()
    changes: dict[str, object] = {}
    if "owner_user_id" in fields and data.owner_user_id != ag.owner_user_id:
        _check_owner(session, tenant_id=ag.tenant_id, user_id=data.owner_user_id)
        changes["owner_user_id"] = [ag.owner_user_id, data.owner_user_id]
        ag.owner_user_id = data.owner_user_id
    if "observacoes" in fields and data.observacoes != ag.observacoes:
        changes["observacoes"] = True
        ag.observacoes = data.observacoes
    moved = False
    if data.data_agendada is not None and data.data_agendada != ag.data_agendada:
        _check_future(data.data_agendada, now)
        changes["data_agendada"] = [ag.data_agendada.isoformat(), data.data_agendada.isoformat()]
        ag.data_agendada = data.data_agendada
        moved = True
    if data.duracao_minutos is not None and data.duracao_minutos != ag.duracao_minutos:
        changes["duracao_minutos"] = [ag.duracao_minutos, data.duracao_minutos]
        ag.duracao_minutos = data.duracao_minutos
        moved = True
    if data.timezone is not None and data.timezone != ag.timezone:
        changes["timezone"] = [ag.timezone, data.timezone]
        ag.timezone = data.timezone
        moved = True
    replan = moved
    if "lembretes_minutos" in fields and data.lembretes_minutos != ag.lembretes_minutos:
        changes["lembretes_minutos"] = data.lembretes_minutos
        ag.lembretes_minutos = data.lembretes_minutos
        replan = True
    if not changes:
        return ag
    ag.updated_at = now
    who = _actor(principal, actor)
    if replan:
        reminders.cancel_pending(session, ag, motivo="reagendado")
        session.flush()
        reminders.plan(session, ag, settings=settings, now=now)
    if moved:
        ag.ics_sequence += 1
        log.record(session, ag, "reagendado", ator=who, detalhe=changes)
        lead = leads.get_or_raise(session, tenant_id=ag.tenant_id, lead_id=ag.lead_id)
        _invite(
            session, ag, lead, method="REQUEST", principal=principal, settings=settings, actor=who
        )
    else:
        log.record(session, ag, "alterado", ator=who, detalhe=changes)
    session.flush()
    return ag


def cancel(
    session: Session,
    *,
    principal: Principal,
    agendamento_id: int,
    data: AgendamentoCancel,
    settings: Settings,
    actor: str | None = None,
) -> Agendamento:
    """Cancels with its reason: pending reminders never fire, the invitation is withdrawn."""
    motivo = data.motivo_cancelamento.strip()
    if not motivo:
        raise InvalidInput("motivo_cancelamento is required", field="motivo_cancelamento")
    ag = _lock(session, tenant_id=principal.tenant_id, agendamento_id=agendamento_id)
    _open(ag, "cancelled")
    now = utcnow()
    ag.status = "cancelado"
    ag.cancelado_em = now
    ag.motivo_cancelamento = motivo
    ag.updated_at = now
    ag.ics_sequence += 1
    reminders.cancel_pending(session, ag, motivo="cancelado")
    who = _actor(principal, actor)
    log.record(session, ag, "cancelado", ator=who, detalhe={"motivo_cancelamento": motivo})
    lead = leads.get_or_raise(session, tenant_id=ag.tenant_id, lead_id=ag.lead_id)
    _invite(session, ag, lead, method="CANCEL", principal=principal, settings=settings, actor=who)
    session.flush()
    return ag


def complete(
    session: Session,
    *,
    principal: Principal,
    agendamento_id: int,
    status: str = "realizado",
    observacoes: str | None = None,
    actor: str | None = None,
) -> Agendamento:
    """Marks the appointment done (`realizado`) or the lead absent (`nao_compareceu`)."""
    if status not in ("realizado", "nao_compareceu"):
        raise InvalidInput("status must be realizado or nao_compareceu", field="status")
    ag = _lock(session, tenant_id=principal.tenant_id, agendamento_id=agendamento_id)
    _open(ag, "marked " + status)
    now = utcnow()
    ag.status = status
    ag.realizado_em = now if status == "realizado" else None
    ag.updated_at = now
    if observacoes:
        ag.observacoes = (ag.observacoes + "\n" if ag.observacoes else "") + observacoes
    reminders.cancel_pending(session, ag, motivo=status)
    log.record(session, ag, status, ator=_actor(principal, actor))
    session.flush()
    return ag


def list_(
    session: Session,
    *,
    tenant_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    owner_user_id: int | None = None,
    lead_id: int | None = None,
    tipo: str | None = None,
    canal: str | None = None,
    limit: int = 50,
    offset: int = 0,
    latest_first: bool = False,
) -> tuple[list[Agendamento], int]:
    """By time (start ≤ data_agendada < end), status, owner, lead; soonest first (or the
    latest first, as a lead's timeline shows them)."""
    where = [Agendamento.tenant_id == tenant_id]
    if start is not None:
        where.append(Agendamento.data_agendada >= start)
    if end is not None:
        where.append(Agendamento.data_agendada < end)
    if status is not None:
        where.append(Agendamento.status == status)
    if owner_user_id is not None:
        where.append(Agendamento.owner_user_id == owner_user_id)
    if lead_id is not None:
        where.append(Agendamento.lead_id == lead_id)
    if tipo is not None:
        where.append(Agendamento.tipo == tipo)
    if canal is not None:
        where.append(Agendamento.canal == canal)
    total = int(session.scalar(select(func.count()).select_from(Agendamento).where(*where)) or 0)
    rows = session.scalars(
        select(Agendamento)
        .where(*where)
        .order_by(
            *(
                (Agendamento.data_agendada.desc(), Agendamento.agendamento_id.desc())
                if latest_first
                else (Agendamento.data_agendada, Agendamento.agendamento_id)
            )
        )
        .limit(min(limit, MAX_PAGE))
        .offset(offset)
    )
    return list(rows), total

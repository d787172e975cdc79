"""Reminder rows of an appointment (planned, cancelled on a move or cancel) and `fire`, the one
place a due reminder is sent from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.appointments import notifications, zones
from carteiro.appointments.models import Agendamento, AgendamentoConfig, Lembrete
from carteiro.config import Settings
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.dispatches import service as dispatches
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound import service as outbound
from carteiro.outbound.models import LANE_TRANSACTIONAL
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import service as whatsapp

# How the lead hears of it, by the appointment's channel: a phone callback is the owner's to
# make, so the owner is reminded; WhatsApp goes out as a dispatch (its contact rules apply).
CHANNEL_BY_CANAL = {"telefone": "owner", "whatsapp": "whatsapp", "video": "email"}


def parse_offsets(text: str, *, field: str = "lembretes_minutos") -> list[int]:
    """'1440,60' → [1440, 60]; a CLI or setting spelling of the reminder offsets."""
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) > 43200:
            raise InvalidInput(
                f"'{part}' is not a number of minutes between 0 and 43200", field=field
            )
        out.append(int(part))
    return out


def tenant_offsets(session: Session, *, tenant_id: int, settings: Settings) -> list[int]:
    config = session.get(AgendamentoConfig, tenant_id)
    if config is not None:
        return list(config.lembretes_minutos)
    return parse_offsets(settings.appointment_reminders, field="CARTEIRO_APPOINTMENT_REMINDERS")


def set_tenant_offsets(session: Session, *, tenant_id: int, offsets: list[int]) -> list[int]:
    clean = sorted(set(offsets), reverse=True)
    config = session.get(AgendamentoConfig, tenant_id)
    if config is None:
        session.add(AgendamentoConfig(tenant_id=tenant_id, lembretes_minutos=clean))
    else:
        config.lembretes_minutos = clean
        config.updated_at = utcnow()
    return clean


def plan(session: Session, ag: Agendamento, *, settings: Settings, now: datetime) -> None:
    """One row per offset for the appointment's current time. An offset already past when
    booked is recorded as skipped: a reminder sent late reads as a mistake."""
    offsets = ag.lembretes_minutos
    if offsets is None:
        offsets = tenant_offsets(session, tenant_id=ag.tenant_id, settings=settings)
    channel = CHANNEL_BY_CANAL[ag.canal]
    for offset in sorted(set(offsets), reverse=True):
        due = ag.data_agendada - timedelta(minutes=offset)
        late = due < now
        session.add(
            Lembrete(
                tenant_id=ag.tenant_id,
                agendamento_id=ag.agendamento_id,
                offset_minutos=offset,
                channel=channel,
                alvo=ag.data_agendada,
                due_at=due,
                status="pulado" if late else "agendado",
                motivo="already past when booked" if late else None,
            )
        )


def cancel_pending(session: Session, ag: Agendamento, *, motivo: str) -> int:
    """Cancels the reminders not yet fired; a worker holding one finds it gone and sends nothing."""
    stmt = (
        update(Lembrete)
        .where(Lembrete.agendamento_id == ag.agendamento_id, Lembrete.status == "agendado")
        .values(status="cancelado", motivo=motivo, lease_owner=None, lease_until=None)
    )
    return int(dml(session, stmt, execution_options={"synchronize_session": False}).rowcount)


def of(session: Session, *, agendamento_ids: list[int]) -> dict[int, list[Lembrete]]:
    found: dict[int, list[Lembrete]] = {i: [] for i in agendamento_ids}
    if not agendamento_ids:
        return found
    rows = session.scalars(
        select(Lembrete)
        .where(Lembrete.agendamento_id.in_(agendamento_ids))
        .order_by(Lembrete.due_at, Lembrete.id)
    )
    for row in rows:
        found[row.agendamento_id].append(row)
    return found


def lead_email(session: Session, *, lead_id: int) -> LeadEmail | None:
    """The address a lead is written to: its main one, else its first valid one."""
    return session.scalars(
        select(LeadEmail)
        .where(LeadEmail.lead_id == lead_id, LeadEmail.valido_para_disparo.is_(True))
        .order_by(LeadEmail.email_principal.desc(), LeadEmail.email_id)
        .limit(1)
    ).first()


def system_principal(tenant_id: int) -> Principal:
    """Reminders were authorised when the appointment was booked; they are sent as the tenant."""
    return Principal(tenant_id=tenant_id, key_id=None, key_name="agendamentos", scopes=("*",))


@dataclass(frozen=True)
class Fired:
    status: str  # enviado | pulado
    motivo: str | None = None
    email_id: int | None = None
    disparo_id: int | None = None


@dataclass(frozen=True)
class Due:
    """A reminder that passed its fire-time checks, with what sending it needs."""

    reminder: Lembrete
    ag: Agendamento
    lead: Lead


def _text(ag: Agendamento, lead: Lead) -> tuple[str, str]:
    when = zones.spoken(ag.data_agendada, ag.timezone)
    what = "ligação" if ag.tipo == "callback" else "reunião"
    subject = f"Lembrete: {what} em {when}"
    lines = [f"Olá{(' ' + lead.contato_nome) if lead.contato_nome else ''},", ""]
    lines.append(f"Lembramos da sua {what} marcada para {when}.")
    if ag.video_url:
        lines.append(f"Entre pela videochamada: {ag.video_url}")
    return subject, "\n".join(lines) + "\n"


def _addresses(session: Session, lead_ids: set[int]) -> dict[int, str]:
    """Each lead's address (its main one, else its first valid one), in one query."""
    found: dict[int, str] = {}
    if not lead_ids:
        return found
    rows = session.execute(
        select(LeadEmail.lead_id, LeadEmail.email)
        .where(LeadEmail.lead_id.in_(lead_ids), LeadEmail.valido_para_disparo.is_(True))
        .order_by(LeadEmail.lead_id, LeadEmail.email_principal.desc(), LeadEmail.email_id)
    )
    for lead_id, email in rows:
        found.setdefault(lead_id, email)
    return found


def _mail(
    session: Session, items: list[tuple[Due, EmailCreate]], settings: Settings
) -> list[Fired]:
    """Queues the reminder e-mails of one tenant in one insert (transactional lane); if the
    batch is refused as a whole, one at a time, so one bad address skips only its reminder."""
    principal = system_principal(items[0][0].ag.tenant_id)
    try:
        with session.begin_nested():
            queued = outbound.create_batch(
                session,
                principal=principal,
                items=[data for _, data in items],
                settings=settings,
                source="appointment",
                lane=LANE_TRANSACTIONAL,
            )
    except CarteiroError:
        queued = None
    if queued is not None:
        return [
            Fired("pulado", q.error_message, q.id)
            if q.status == "suppressed"
            else Fired("enviado", email_id=q.id)
            for q in queued
        ]
    fired = []
    for due, data in items:
        try:
            with session.begin_nested():
                email, _ = outbound.create(
                    session,
                    principal=principal,
                    data=data,
                    settings=settings,
                    idempotency_key=f"agendamento-lembrete-{due.reminder.id}",
                    source="appointment",
                )
            fired.append(Fired("enviado", email_id=email.id))
        except CarteiroError as exc:
            fired.append(Fired("pulado", exc.message))
    return fired


def _dispatch(session: Session, d: Due, settings: Settings) -> Fired:
    """A WhatsApp reminder as a dispatch with the configured template, due now and never after
    the appointment starts; the template takes whichever of nome, quando and link it declares."""
    name = settings.appointment_whatsapp_template
    template = whatsapp.find_template(session, tenant_id=d.ag.tenant_id, name=name)
    if template is None:
        return Fired("pulado", f"WhatsApp template {name} is not in the tenant's registry")
    values = {
        "nome": d.lead.contato_nome or d.lead.nome or "",
        "quando": zones.spoken(d.ag.data_agendada, d.ag.timezone),
        "link": d.ag.video_url or "",
    }
    declared = {str(p["name"]) for p in template.params}
    try:
        with session.begin_nested():
            disparo = dispatches.create(
                session,
                tenant_id=d.ag.tenant_id,
                lead_id=d.lead.lead_id,
                canal="whatsapp",
                template=name,
                variaveis={k: v for k, v in values.items() if k in declared},
                idempotency_key=f"agendamento-lembrete-{d.reminder.id}",
                source="appointment",
                not_after=d.ag.data_agendada,
            )
    except CarteiroError as exc:
        return Fired("pulado", exc.message)
    return Fired("enviado", disparo_id=disparo.disparo_id)


def fire(session: Session, *, due: list[Due], settings: Settings) -> list[Fired]:
    """Sends reminders that have just been re-validated, inside the caller's transaction, so
    the sends and the reminders' new statuses commit together; one outcome per reminder.

    The one call site of the sending channels: e-mail through the queue, WhatsApp as a
    dispatch, phone callbacks as a note to the owner."""
    out: dict[int, Fired] = {}
    mails: dict[int, list[tuple[Due, EmailCreate]]] = {}
    addresses = _addresses(session, {d.lead.lead_id for d in due if d.reminder.channel == "email"})
    for d in due:
        key = d.reminder.id
        if d.reminder.channel == "whatsapp":
            out[key] = _dispatch(session, d, settings)
        elif d.reminder.channel == "owner":
            when = zones.spoken(d.ag.data_agendada, d.ag.timezone)
            who = d.lead.contato_nome or d.lead.nome or f"lead {d.lead.lead_id}"
            notifications.notify(
                session, d.ag, tipo="lembrete", mensagem=f"Ligar para {who} em {when}"
            )
            out[key] = Fired("enviado")
        elif d.lead.lead_id not in addresses:
            out[key] = Fired("pulado", "the lead has no e-mail address")
        else:
            subject, body = _text(d.ag, d.lead)
            data = EmailCreate(to_email=addresses[d.lead.lead_id], subject=subject, body=body)
            mails.setdefault(d.ag.tenant_id, []).append((d, data))
    for items in mails.values():
        for (d, _), fired in zip(items, _mail(session, items, settings), strict=True):
            out[d.reminder.id] = fired
    return [out[d.reminder.id] for d in due]


def outcome_entry(reminder: Lembrete, fired: Fired) -> tuple[str, dict[str, object]]:
    """The log entry (type and detail) recording what became of a reminder."""
    detail: dict[str, object] = {
        "lembrete_id": reminder.id,
        "channel": reminder.channel,
        "offset_minutos": reminder.offset_minutos,
    }
    if fired.motivo:
        detail["motivo"] = fired.motivo
    if fired.email_id:
        detail["email_id"] = fired.email_id
    if fired.disparo_id:
        detail["disparo_id"] = fired.disparo_id
    return ("lembrete_enviado" if fired.status == "enviado" else "lembrete_pulado"), detail

"""Calendar invitations by e-mail: an iMIP message (text, `text/calendar` and an .ics file)."""

from __future__ import annotations

import base64

from sqlalchemy.orm import Session

from carteiro.appointments import ics, zones
from carteiro.appointments.models import Agendamento
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import InvalidInput
from carteiro.leads.models import Lead
from carteiro.mail.mime import CalendarPart
from carteiro.outbound import enqueue
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import AttachmentIn, EmailCreate
from carteiro.tenancy.service import Principal

ORGANIZER_NAME = "Agenda Carteiro"


def summary(ag: Agendamento, lead: Lead) -> str:
    what = "Ligação" if ag.tipo == "callback" else "Reunião"
    who = lead.nome or lead.contato_nome
    return f"{what} com {who}" if who else what


def _invitation(ag: Agendamento, lead: Lead, *, organizer: str, attendee: str) -> ics.Invitation:
    lines = [ag.observacoes or ""]
    if ag.video_url:
        lines.append(f"Videochamada: {ag.video_url}")
    return ics.Invitation(
        uid=ag.ics_uid,
        sequence=ag.ics_sequence,
        start=ag.data_agendada,
        minutes=ag.duracao_minutos,
        zone=ag.timezone,
        summary=summary(ag, lead),
        description="\n".join(line for line in lines if line),
        organizer_email=organizer,
        organizer_name=ORGANIZER_NAME,
        attendee_email=attendee,
        attendee_name=lead.contato_nome or lead.nome,
        video_url=ag.video_url,
        stamp=utcnow(),
    )


def _body(ag: Agendamento, method: ics.Method) -> tuple[str, str]:
    when = zones.spoken(ag.data_agendada, ag.timezone)
    what = "ligação" if ag.tipo == "callback" else "reunião"
    if method == "CANCEL":
        subject = f"Cancelado: {what} de {when}"
        text = f"A {what} marcada para {when} foi cancelada."
    elif ag.ics_sequence > 0:
        subject = f"Remarcado: {what} para {when}"
        text = f"A sua {what} foi remarcada para {when}."
    else:
        subject = f"Convite: {what} em {when}"
        text = f"A sua {what} está marcada para {when}."
    if ag.video_url and method == "REQUEST":
        text += f"\nVideochamada: {ag.video_url}"
    return subject, text + "\n"


def send(
    session: Session,
    *,
    ag: Agendamento,
    lead: Lead,
    to: str,
    method: ics.Method,
    principal: Principal,
    settings: Settings,
) -> int:
    """Queues the invitation (transactional lane) and returns the e-mail's id.

    The ORGANIZER is the mailbox it is sent from (Google is strict about that): the pool's
    first active account is pinned, or the configured organizer."""
    pool = enqueue.load_pool(session, ag.tenant_id)
    account = pool.accounts[0] if pool.accounts else None
    organizer = settings.appointment_organizer or (
        account.email if account else settings.default_from
    )
    calendar_text = ics.build(_invitation(ag, lead, organizer=organizer, attendee=to), method)
    subject, text = _body(ag, method)
    data = EmailCreate(
        to_email=to,
        subject=subject,
        body=text,
        account=account.id if account and not settings.appointment_organizer else None,
        attachments=[
            AttachmentIn(
                filename="convite.ics",
                content_type="application/ics",
                content_base64=base64.b64encode(calendar_text.encode("utf-8")).decode("ascii"),
            )
        ],
    )
    if len(calendar_text) > settings.max_body_chars:
        raise InvalidInput("the invitation is too large", field="observacoes")
    email, _ = outbound.create(
        session,
        principal=principal,
        data=data,
        settings=settings,
        source="appointment",
        calendar=CalendarPart(ics=calendar_text, method=method),
    )
    return email.id

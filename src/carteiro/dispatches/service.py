"""Dispatch verbs: create (API, MCP, CLI, reminders), get, list, cancel, requeue, dead letters."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.dispatches import contact, lifecycle
from carteiro.dispatches.models import Disparo, DisparoDeadLetter
from carteiro.dispatches.schemas import (
    DeadLetterPublic,
    DisparoCreate,
    DisparoEventPublic,
    DisparoPublic,
)
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.leads import suppression
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.outbound import service as outbound
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import templates as wa_templates

MAX_LIMIT = 500


def _tenant(principal: Principal | None, tenant_id: int | None) -> int:
    if principal is not None:
        return principal.tenant_id
    if tenant_id is None:
        raise ValueError("give principal or tenant_id")
    return tenant_id


def _lead(session: Session, tenant_id: int, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None or lead.tenant_id != tenant_id:
        raise NotFound(f"lead {lead_id} not found")
    return lead


def _email_target(
    session: Session, tenant_id: int, lead_id: int, email_id: int | None
) -> LeadEmail:
    stmt = select(LeadEmail).where(LeadEmail.tenant_id == tenant_id, LeadEmail.lead_id == lead_id)
    if email_id is not None:
        row = session.scalar(stmt.where(LeadEmail.email_id == email_id))
        if row is None:
            raise InvalidInput(
                f"e-mail {email_id} is not one of lead {lead_id}'s", field="email_id"
            )
    else:
        row = session.scalar(stmt.order_by(LeadEmail.email_principal.desc(), LeadEmail.email_id))
        if row is None:
            raise InvalidInput(f"lead {lead_id} has no e-mail address", field="email_id")
    if not row.valido_para_disparo:
        raise InvalidInput(f"{row.email} is not valid for dispatches", field="email_id")
    if suppression.is_suppressed(session, tenant_id=tenant_id, addresses=[row.email]):
        raise InvalidInput(f"{row.email} is on the suppression list", field="email_id")
    return row


def _phone_target(
    session: Session, tenant_id: int, lead_id: int, telefone_id: int | None
) -> LeadTelefone:
    stmt = select(LeadTelefone).where(
        LeadTelefone.tenant_id == tenant_id, LeadTelefone.lead_id == lead_id
    )
    if telefone_id is not None:
        row = session.scalar(stmt.where(LeadTelefone.telefone_id == telefone_id))
        if row is None:
            raise InvalidInput(
                f"phone {telefone_id} is not one of lead {lead_id}'s", field="telefone_id"
            )
    else:
        order = (LeadTelefone.telefone_principal.desc(), LeadTelefone.telefone_id)
        row = session.scalar(stmt.where(LeadTelefone.tipo == "mobile").order_by(*order))
        if row is None:
            raise InvalidInput(f"lead {lead_id} has no mobile phone", field="telefone_id")
    if not row.valido_para_disparo:
        raise InvalidInput(f"{row.telefone} is not valid for dispatches", field="telefone_id")
    if row.tipo == "landline":
        raise InvalidInput(f"{row.telefone} is a landline: no WhatsApp", field="telefone_id")
    return row


def find_by_idempotency_key(session: Session, *, tenant_id: int, key: str) -> Disparo | None:
    stmt = select(Disparo).where(Disparo.tenant_id == tenant_id, Disparo.idempotency_key == key)
    return session.scalar(stmt)


def create(
    session: Session,
    *,
    principal: Principal | None = None,
    tenant_id: int | None = None,
    lead_id: int,
    canal: str,
    email_id: int | None = None,
    telefone_id: int | None = None,
    template: str,
    variaveis: dict[str, Any] | None = None,
    agendar_para: datetime | None = None,
    purpose: str = "transacional",
    idempotency_key: str | None = None,
    source: str = "api",
    texto: str | None = None,
    assunto: str | None = None,
    corpo: str | None = None,
    html: str | None = None,
    not_after: datetime | None = None,
    quiet_policy: str | None = None,
    on_quiet: str = "defer",
    whatsapp_number: str | None = None,
    max_tentativas: int = 3,
    requeued_from_id: int | None = None,
) -> Disparo:
    """Validates and stores one dispatch (sent by the worker, never in the request). A
    repeated `idempotency_key` returns the first dispatch."""
    return create_or_repeat(**locals())[0]


def create_or_repeat(
    session: Session,
    *,
    principal: Principal | None = None,
    tenant_id: int | None = None,
    lead_id: int,
    canal: str,
    email_id: int | None = None,
    telefone_id: int | None = None,
    template: str,
    variaveis: dict[str, Any] | None = None,
    agendar_para: datetime | None = None,
    purpose: str = "transacional",
    idempotency_key: str | None = None,
    source: str = "api",
    texto: str | None = None,
    assunto: str | None = None,
    corpo: str | None = None,
    html: str | None = None,
    not_after: datetime | None = None,
    quiet_policy: str | None = None,
    on_quiet: str = "defer",
    whatsapp_number: str | None = None,
    max_tentativas: int = 3,
    requeued_from_id: int | None = None,
) -> tuple[Disparo, bool]:
    """`create`, also saying whether the dispatch is new (False: an idempotent repeat)."""
    tid = _tenant(principal, tenant_id)
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key"
            )
        existing = find_by_idempotency_key(session, tenant_id=tid, key=idempotency_key)
        if existing is not None:
            return existing, False
    _lead(session, tid, lead_id)
    variables = dict(variaveis or {})
    number_id: int | None = None
    if canal == "email":
        target = _email_target(session, tid, lead_id, email_id)
        destino, email_id, telefone_id = target.email, target.email_id, None
    elif canal == "whatsapp":
        phone = _phone_target(session, tid, lead_id, telefone_id)
        destino, telefone_id, email_id = phone.telefone, phone.telefone_id, None
        number = (
            whatsapp.get_number_or_raise(session, tenant_id=tid, ref=whatsapp_number)
            if whatsapp_number
            else whatsapp.default_number(session, tenant_id=tid)
        )
        if number is None:
            raise InvalidInput(
                "this tenant has no WhatsApp number yet: add one (carteiro whatsapp numbers add)",
                field="canal",
            )
        number_id = number.id
        registered = whatsapp.find_template(session, tenant_id=tid, name=template)
        if registered is None:
            raise InvalidInput(
                f"template {template} is not in this tenant's WhatsApp template registry",
                field="template",
            )
        wa_templates.build(registered, variables, field="payload.variaveis")
    else:
        raise InvalidInput("canal is email or whatsapp", field="canal")
    if contact.is_blocked(session, tenant_id=tid, value=destino):
        raise InvalidInput(f"{destino} is on the do-not-contact list", field="canal")
    refusal = contact.consent_refusal(
        session, tenant_id=tid, lead_id=lead_id, canal=canal, purpose=purpose
    )
    if refusal:
        raise InvalidInput(refusal, field="purpose")
    now = utcnow()
    scheduled = agendar_para if agendar_para is not None and agendar_para > now else now
    if not_after is not None and not_after <= scheduled:
        raise InvalidInput("nao_enviar_apos must be after agendar_para", field="nao_enviar_apos")
    payload: dict[str, Any] = {"variaveis": variables}
    for key, value in (("texto", texto), ("assunto", assunto), ("corpo", corpo), ("html", html)):
        if value is not None:
            payload[key] = value
    d = Disparo(
        tenant_id=tid,
        lead_id=lead_id,
        canal=canal,
        email_id=email_id,
        telefone_id=telefone_id,
        destino=destino,
        template=template,
        payload=payload,
        purpose=purpose,
        source=source,
        status="pendente",
        data_agendado=scheduled,
        run_at=scheduled,
        not_after=not_after,
        max_tentativas=max_tentativas,
        idempotency_key=idempotency_key,
        correlation="d" + secrets.token_hex(12),
        whatsapp_number_id=number_id,
        quiet_policy=quiet_policy,
        on_quiet=on_quiet,
        requeued_from_id=requeued_from_id,
    )
    try:
        with session.begin_nested():
            session.add(d)
            session.flush()
    except IntegrityError:
        if idempotency_key is None:
            raise
        existing = find_by_idempotency_key(session, tenant_id=tid, key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    lifecycle.record(session, d, "criado", {"agendado": scheduled.isoformat(), "source": source})
    return d, True


def create_from(
    session: Session,
    *,
    principal: Principal,
    lead_id: int,
    data: DisparoCreate,
    idempotency_key: str | None = None,
    source: str = "api",
) -> tuple[Disparo, bool]:
    """The seed request body as given to the API, MCP and CLI."""
    return create_or_repeat(
        session,
        principal=principal,
        lead_id=lead_id,
        canal=data.canal,
        email_id=data.email_id,
        telefone_id=data.telefone_id,
        template=data.template,
        variaveis=data.payload.variaveis,
        agendar_para=data.agendar_para,
        purpose=data.purpose,
        idempotency_key=idempotency_key,
        source=source,
        texto=data.payload.texto,
        assunto=data.payload.assunto,
        corpo=data.payload.corpo,
        html=data.payload.html,
        not_after=data.nao_enviar_apos,
        quiet_policy=data.quiet_policy,
        on_quiet=data.on_quiet,
        whatsapp_number=data.whatsapp_number,
    )


def get_or_raise(
    session: Session,
    *,
    principal: Principal | None = None,
    tenant_id: int | None = None,
    disparo_id: int,
) -> Disparo:
    d = session.get(Disparo, disparo_id)
    if d is None or d.tenant_id != _tenant(principal, tenant_id):
        raise NotFound(f"dispatch {disparo_id} not found")
    return d


def list_(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    canal: str | None = None,
    lead_id: int | None = None,
    purpose: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Disparo], int]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is between 1 and {MAX_LIMIT}", field="limit")
    where: list[ColumnElement[bool]] = [Disparo.tenant_id == principal.tenant_id]
    if status:
        where.append(Disparo.status == status)
    if canal:
        where.append(Disparo.canal == canal)
    if lead_id is not None:
        where.append(Disparo.lead_id == lead_id)
    if purpose:
        where.append(Disparo.purpose == purpose)
    total = int(session.scalar(select(func.count()).select_from(Disparo).where(*where)) or 0)
    stmt = select(Disparo).where(*where).order_by(Disparo.disparo_id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def cancel(session: Session, *, principal: Principal, disparo_id: int) -> Disparo:
    """Only a pending dispatch that no worker is sending right now (409 otherwise)."""
    d = get_or_raise(session, principal=principal, disparo_id=disparo_id)
    now = utcnow()
    busy = d.lease_until is not None and d.lease_until > now
    if d.status != "pendente" or busy or d.inflight_at or d.awaiting_until:
        raise Conflict(
            f"dispatch {disparo_id} is {d.status} and being sent; it cannot be cancelled"
        )
    if d.email_message_id is not None:
        _cancel_email(session, principal, d)
    d.status = "cancelado"
    d.data_retorno = now
    lifecycle.record(session, d, "cancelado", None)
    lifecycle.notify(session, d, "dispatch_cancelled")
    return d


def _cancel_email(session: Session, principal: Principal, d: Disparo) -> None:
    assert d.email_message_id is not None
    try:
        outbound.cancel(session, principal=principal, email_id=d.email_message_id)
    except Conflict:
        raise Conflict(
            f"dispatch {d.disparo_id}'s e-mail is already being sent; it cannot be cancelled"
        ) from None


def requeue(session: Session, *, principal: Principal, disparo_id: int) -> Disparo:
    """A NEW dispatch with the same request, linked to the dead one (which stays as it was)."""
    d = get_or_raise(session, principal=principal, disparo_id=disparo_id)
    dead = session.get(DisparoDeadLetter, disparo_id)
    if dead is None:
        raise Conflict(f"dispatch {disparo_id} is not in the dead-letter list")
    if dead.requeued_as_id is not None:
        raise Conflict(f"dispatch {disparo_id} was requeued already as {dead.requeued_as_id}")
    if d.lead_id is None:
        raise Conflict("a channel send to a number without a lead is not requeued: send it again")
    p = d.payload or {}
    new = create(
        session,
        principal=principal,
        lead_id=d.lead_id,
        canal=d.canal,
        email_id=d.email_id,
        telefone_id=d.telefone_id,
        template=d.template,
        variaveis=p.get("variaveis") or {},
        purpose=d.purpose,
        source="requeue",
        texto=p.get("texto"),
        assunto=p.get("assunto"),
        corpo=p.get("corpo"),
        html=p.get("html"),
        quiet_policy=d.quiet_policy,
        on_quiet=d.on_quiet,
        whatsapp_number=str(d.whatsapp_number_id) if d.whatsapp_number_id else None,
        max_tentativas=d.max_tentativas,
        requeued_from_id=d.disparo_id,
    )
    dead.requeued_as_id = new.disparo_id
    lifecycle.record(session, d, "requeued", {"as": new.disparo_id})
    return new


def list_dead(
    session: Session, *, principal: Principal, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[DisparoDeadLetter, Disparo]], int]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is between 1 and {MAX_LIMIT}", field="limit")
    where = DisparoDeadLetter.tenant_id == principal.tenant_id
    total = int(
        session.scalar(select(func.count()).select_from(DisparoDeadLetter).where(where)) or 0
    )
    stmt = (
        select(DisparoDeadLetter, Disparo)
        .join(Disparo, Disparo.disparo_id == DisparoDeadLetter.disparo_id)
        .where(where)
        .order_by(DisparoDeadLetter.moved_at.desc())
    )
    rows = [(dl, d) for dl, d in session.execute(stmt.limit(limit).offset(offset))]
    return rows, total


def purge_dead_letters(session: Session, *, now: datetime) -> int:
    """Drops dead-letter entries past their 14 days (the dispatch rows stay, as erro)."""
    stmt = delete(DisparoDeadLetter).where(DisparoDeadLetter.expires_at <= now)
    return dml(session, stmt, execution_options={"synchronize_session": False}).rowcount


def dead_public(dl: DisparoDeadLetter, d: Disparo) -> DeadLetterPublic:
    return DeadLetterPublic(
        disparo_id=d.disparo_id,
        lead_id=d.lead_id,
        canal=d.canal,
        destino=d.destino,
        motivo=dl.motivo,
        error_class=dl.error_class,
        moved_at=dl.moved_at,
        expires_at=dl.expires_at,
        requeued_as_id=dl.requeued_as_id,
    )


def public(session: Session, d: Disparo, *, with_events: bool = False) -> DisparoPublic:
    events = None
    if with_events:
        events = [
            DisparoEventPublic(kind=e.kind, at=e.created_at, detail=e.detail)
            for e in lifecycle.events(session, disparo_id=d.disparo_id)
        ]
    dead = session.get(DisparoDeadLetter, d.disparo_id) is not None
    return DisparoPublic(
        disparo_id=d.disparo_id,
        lead_id=d.lead_id,
        canal=d.canal,
        destino=d.destino,
        template=d.template,
        payload=d.payload or {},
        purpose=d.purpose,
        status=d.status,
        mensagem_erro=d.mensagem_erro,
        error_class=d.error_class,
        error_code=d.error_code,
        data_agendado=d.data_agendado,
        proxima_tentativa=d.run_at if d.status == "pendente" else None,
        data_envio=d.data_envio,
        data_retorno=d.data_retorno,
        tentativas=d.tentativas,
        max_tentativas=d.max_tentativas,
        provider_message_id=d.provider_message_id,
        recipient_id=d.recipient_id,
        sent_as=d.sent_as,
        email_message_id=d.email_message_id,
        requeued_from_id=d.requeued_from_id,
        dead_letter=dead,
        created_at=d.created_at,
        updated_at=d.updated_at,
        events=events,
    )

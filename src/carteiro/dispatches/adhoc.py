"""The seed's channel endpoint `POST /mcp/whatsapp/send`: one immediate WhatsApp dispatch to a
number, with or without a lead, whose first outcome the caller may wait for."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.db.types import utcnow
from carteiro.dispatches import contact, lifecycle
from carteiro.dispatches.models import Disparo
from carteiro.dispatches.service import find_by_idempotency_key
from carteiro.errors import InvalidInput
from carteiro.leads.models import LeadTelefone
from carteiro.leads.normalize import normalise_phone
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import templates as wa_templates
from carteiro.whatsapp.schemas import SendError, WhatsAppSend, WhatsAppSendResult


def refused(code: str, message: str, *, disparo_id: int | None = None) -> WhatsAppSendResult:
    return WhatsAppSendResult(
        messageId=None,
        status="failed",
        error=SendError(code=code, message=message, retryable=False),
        disparoId=disparo_id,
    )


def create(
    session: Session, *, principal: Principal, data: WhatsAppSend
) -> tuple[Disparo | None, WhatsAppSendResult | None]:
    """The dispatch to wait for, or at once the reason it cannot be sent (nothing stored)."""
    tid = principal.tenant_id
    if data.idempotencyKey:
        existing = find_by_idempotency_key(session, tenant_id=tid, key=data.idempotencyKey)
        if existing is not None:
            return existing, None
    parsed = normalise_phone(data.to)
    if parsed is None or parsed[1] == "landline":
        return None, refused("numero_invalido", f"{data.to} is not a mobile number (E.164)")
    to = parsed[0]
    number = whatsapp.default_number(session, tenant_id=tid)
    if number is None:
        return None, refused("sem_numero", "this tenant has no WhatsApp number configured")
    if contact.is_blocked(session, tenant_id=tid, value=to):
        return None, refused(
            "sem_consentimento", f"{to} opted out or is on the do-not-contact list"
        )
    variables = dict(data.variables or {})
    template_name = data.templateId
    if template_name:
        registered = whatsapp.find_template(session, tenant_id=tid, name=template_name)
        if registered is None:
            return None, refused("template_invalido", f"template {template_name} is not registered")
        try:
            wa_templates.build(registered, variables, field="variables")
        except InvalidInput as exc:
            return None, refused("template_invalido", exc.message)
    else:
        if not data.message:
            raise InvalidInput("give message (free text) or templateId", field="message")
        window = whatsapp.window_open(
            session, number_id=number.id, wa_id=to.lstrip("+"), now=utcnow()
        )
        if number.provider == "cloud" and not window:
            return None, refused(
                "fora_janela_24h",
                "free text is only allowed within 24 h of the person's last message; "
                "send an approved template (templateId) instead",
            )
    phone = session.scalar(
        select(LeadTelefone).where(LeadTelefone.tenant_id == tid, LeadTelefone.telefone == to)
    )
    now = utcnow()
    d = Disparo(
        tenant_id=tid,
        lead_id=phone.lead_id if phone else None,
        telefone_id=phone.telefone_id if phone else None,
        canal="whatsapp",
        destino=to,
        template=template_name or "texto",
        payload={"variaveis": variables, **({"texto": data.message} if data.message else {})},
        purpose="transacional",
        source="mcp",
        status="pendente",
        data_agendado=now,
        run_at=now,
        max_tentativas=3,
        idempotency_key=data.idempotencyKey,
        correlation="d" + secrets.token_hex(12),
        whatsapp_number_id=number.id,
        # Without a template, the free text is all there is: no fallback.
        sent_as=None if template_name else "text_only",
        on_quiet="fail",
    )
    session.add(d)
    session.flush()
    lifecycle.record(session, d, "criado", {"source": "mcp"})
    return d, None


def result_of(d: Disparo) -> WhatsAppSendResult:
    if d.status in ("enviado", "confirmado"):
        return WhatsAppSendResult(
            messageId=d.provider_message_id, status="sent", disparoId=d.disparo_id
        )
    if d.status in ("erro", "cancelado"):
        code = f"provider:{d.error_code}" if d.error_code else (d.error_class or d.status)
        return WhatsAppSendResult(
            messageId=d.provider_message_id,
            status="failed",
            error=SendError(code=code, message=d.mensagem_erro or d.status, retryable=False),
            disparoId=d.disparo_id,
        )
    return WhatsAppSendResult(messageId=None, status="queued", disparoId=d.disparo_id)

"""A test message sent now through one number, outside the queue (console and CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carteiro.errors import InvalidInput
from carteiro.leads.normalize import normalise_phone
from carteiro.whatsapp import service
from carteiro.whatsapp import templates as wa_templates
from carteiro.whatsapp.models import WhatsAppNumber
from carteiro.whatsapp.provider import SendResult, TemplateMessage
from carteiro.whatsapp.registry import Providers

CORRELATION = "carteiro-test"


@dataclass(frozen=True)
class Trial:
    """What will be sent: the number, the recipient's digits, the template (or, for a gateway
    without templates, its text)."""

    number: WhatsAppNumber
    to: str
    message: TemplateMessage
    text: str | None = None


def prepare(
    session: Session,
    *,
    tenant_id: int,
    to: str,
    template: str,
    variables: Mapping[str, Any],
    number_ref: str | int | None = None,
    field: str = "variables",
) -> Trial:
    """Checks everything before anything leaves: the number, the recipient, the template and
    its variables (the same checks a dispatch gets)."""
    number = (
        service.get_number_or_raise(session, tenant_id=tenant_id, ref=number_ref)
        if number_ref
        else service.default_number(session, tenant_id=tenant_id)
    )
    if number is None:
        raise InvalidInput("no WhatsApp number: add one first", field="number")
    phone = normalise_phone(to)
    if phone is None:
        raise InvalidInput(f"{to!r} is not a phone number (E.164, e.g. +5511987654321)", field="to")
    registered = service.find_template(session, tenant_id=tenant_id, name=template)
    if registered is None:
        raise InvalidInput(f"template {template} is not registered", field="template")
    message = wa_templates.build(registered, variables, field=field)
    text = wa_templates.render(registered, message) if number.provider == "evolution" else None
    return Trial(number=number, to=phone[0].lstrip("+"), message=message, text=text)


async def send(trial: Trial, *, providers: Providers) -> SendResult:
    """The provider's answer (accepted, or refused with its class and code); no retry."""
    provider = providers.for_number(trial.number)
    if trial.text is not None:
        return await provider.send_text(to=trial.to, body=trial.text, correlation=CORRELATION)
    return await provider.send_template(
        to=trial.to, template=trial.message, correlation=CORRELATION
    )

"""Changing what a tenant registered: a number's settings and secrets, a manual pause, and
the template registry's edits and removals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.whatsapp import service
from carteiro.whatsapp.models import WhatsAppNumber, WhatsAppTemplate
from carteiro.whatsapp.schemas import NumberUpdate, TemplateCreate

# Settings a change may clear by sending an empty value (the others are required).
CLEARABLE = ("display_phone", "fallback_template")


def update_number(
    session: Session,
    *,
    tenant_id: int,
    ref: str | int,
    data: NumberUpdate,
    vault: Vault,
) -> WhatsAppNumber:
    """Applies the fields given; a secret left out keeps the stored one."""
    number = service.get_number_or_raise(session, tenant_id=tenant_id, ref=ref)
    given = data.model_dump(exclude_unset=True)
    for name in ("name", "phone_number_id", "rate_per_second", "pair_interval_seconds"):
        if given.get(name) is not None:
            setattr(number, name, given[name])
    for name in CLEARABLE:
        if name in given:
            setattr(number, name, given[name] or None)
    if "base_url" in given:
        if number.provider == "evolution" and not given["base_url"]:
            raise InvalidInput("an Evolution instance needs its base_url", field="base_url")
        number.base_url = given["base_url"] or None
    if data.token:
        number.token_enc = vault.encrypt(data.token)
    if data.app_secret:
        number.app_secret_enc = vault.encrypt(data.app_secret)
    if data.verify_token:
        number.verify_token_enc = vault.encrypt(data.verify_token)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a number named {number.name} exists", field="name") from None
    return number


def pause_number(
    session: Session, *, tenant_id: int, ref: str | int, reason: str, until: datetime | None
) -> WhatsAppNumber:
    """Stops sends through the number until `until`, or until someone resumes it (None)."""
    number = service.get_number_or_raise(session, tenant_id=tenant_id, ref=ref)
    if not reason.strip():
        raise InvalidInput("say why the number is paused", field="reason")
    number.status, number.paused_reason, number.paused_until = "paused", reason[:1000], until
    session.flush()
    return number


def get_template_or_raise(
    session: Session, *, tenant_id: int, template_id: int
) -> WhatsAppTemplate:
    found = session.scalar(
        select(WhatsAppTemplate).where(
            WhatsAppTemplate.tenant_id == tenant_id, WhatsAppTemplate.id == template_id
        )
    )
    if found is None:
        raise NotFound(f"template {template_id} not found", field="template")
    return found


def update_template(
    session: Session, *, tenant_id: int, template_id: int, data: TemplateCreate
) -> WhatsAppTemplate:
    """Replaces the registered template (as approved again by Meta): name, language,
    category, variables and body."""
    template = get_template_or_raise(session, tenant_id=tenant_id, template_id=template_id)
    template.name, template.language = data.name, data.language
    template.category, template.param_format = data.category, data.param_format
    template.params = [p.model_dump() for p in data.params]
    template.body = data.body
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"template {data.name} ({data.language}) is already registered", field="name"
        ) from None
    return template


def delete_template(session: Session, *, tenant_id: int, template_id: int) -> None:
    """Dispatches still pending with it fail when they fire (the planner checks the registry)."""
    template = get_template_or_raise(session, tenant_id=tenant_id, template_id=template_id)
    session.delete(template)
    session.flush()

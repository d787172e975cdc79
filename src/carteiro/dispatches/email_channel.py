"""E-mail dispatches: rendered once and handed to the outbound queue's transactional lane."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.dispatches.models import Disparo
from carteiro.leads.models import Lead
from carteiro.mail.templates import render_inline
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal


def variables_for(lead: Lead | None, d: Disparo) -> dict[str, Any]:
    """The lead's own fields, overridden by the dispatch's variables."""
    base: dict[str, Any] = {}
    if lead is not None:
        base = {"nome": lead.nome or "", "contato_nome": lead.contato_nome or ""}
    return {**base, **((d.payload or {}).get("variaveis") or {})}


def enqueue(session: Session, *, d: Disparo, lead: Lead | None, settings: Settings) -> int:
    """Queues the e-mail in this transaction and returns its id; its outcome comes back as an
    outbound event (`dispatches.follow`)."""
    payload = d.payload or {}
    variables = variables_for(lead, d)
    subject = render_inline(payload.get("assunto") or d.template, variables, field="assunto")
    body = render_inline(payload.get("corpo") or d.template, variables, field="corpo")
    html = payload.get("html")
    data = EmailCreate(
        to_email=d.destino,
        subject=" ".join(subject.split())[:500],
        body=body,
        html_body=render_inline(html, variables, field="html", html=True) if html else None,
        headers={"X-Carteiro-Disparo": str(d.disparo_id)},
    )
    acting = Principal(tenant_id=d.tenant_id, key_id=None, key_name="dispatch", scopes=("*",))
    email, _ = outbound.create(
        session,
        principal=acting,
        data=data,
        settings=settings,
        idempotency_key=f"disparo:{d.disparo_id}",
        source="dispatch",
        respect_opt_out=d.purpose != "transacional",
    )
    return email.id

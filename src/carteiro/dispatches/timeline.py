"""A lead's contact history: its dispatches and the WhatsApp messages it sent us, by time."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.dispatches.models import Disparo
from carteiro.whatsapp.models import WhatsAppInbound

MAX_ITEMS = 200


class TimelineItem(BaseModel):
    at: datetime
    kind: Literal["disparo", "whatsapp_recebido"]
    canal: str
    disparo_id: int | None = None
    status: str | None = None
    template: str | None = None
    text: str | None = None
    tentativas: int | None = None
    max_tentativas: int | None = None
    data_agendado: datetime | None = None
    data_envio: datetime | None = None
    mensagem_erro: str | None = None


class Timeline(BaseModel):
    lead_id: int
    items: list[TimelineItem]
    untrusted: bool = True


def of_lead(session: Session, *, tenant_id: int, lead_id: int, limit: int = 100) -> Timeline:
    limit = max(1, min(limit, MAX_ITEMS))
    dispatches = session.scalars(
        select(Disparo)
        .where(Disparo.tenant_id == tenant_id, Disparo.lead_id == lead_id)
        .order_by(Disparo.created_at.desc())
        .limit(limit)
    )
    inbound = session.scalars(
        select(WhatsAppInbound)
        .where(WhatsAppInbound.tenant_id == tenant_id, WhatsAppInbound.lead_id == lead_id)
        .order_by(WhatsAppInbound.sent_at.desc())
        .limit(limit)
    )
    items = [
        TimelineItem(
            at=d.data_envio or d.data_agendado,
            kind="disparo",
            canal=d.canal,
            disparo_id=d.disparo_id,
            status=d.status,
            template=d.template,
            tentativas=d.tentativas,
            max_tentativas=d.max_tentativas,
            data_agendado=d.data_agendado,
            data_envio=d.data_envio,
            mensagem_erro=d.mensagem_erro,
        )
        for d in dispatches
    ] + [
        TimelineItem(at=m.sent_at, kind="whatsapp_recebido", canal="whatsapp", text=m.text)
        for m in inbound
    ]
    items.sort(key=lambda i: i.at, reverse=True)
    return Timeline(lead_id=lead_id, items=items[:limit])


def count(session: Session, *, tenant_id: int, lead_id: int) -> int:
    """How many items the lead's whole timeline has (dispatches and messages received)."""
    dispatches = session.scalar(
        select(func.count())
        .select_from(Disparo)
        .where(Disparo.tenant_id == tenant_id, Disparo.lead_id == lead_id)
    )
    inbound = session.scalar(
        select(func.count())
        .select_from(WhatsAppInbound)
        .where(WhatsAppInbound.tenant_id == tenant_id, WhatsAppInbound.lead_id == lead_id)
    )
    return int(dispatches or 0) + int(inbound or 0)

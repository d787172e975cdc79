"""A lead's timeline: its dispatches, the WhatsApp messages it sent and its appointments,
latest first, merged from the dispatch and appointment services; and the page with all of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from carteiro.api.deps import Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.appointments import public as appointment_public
from carteiro.appointments import service as appointments
from carteiro.appointments.schemas import AgendamentoPublic
from carteiro.dispatches import timeline
from carteiro.dispatches.timeline import TimelineItem
from carteiro.leads import service as leads
from carteiro.web import render
from carteiro.web.deps import Person
from carteiro.web.pages.appointments import LABELS as APPOINTMENT_LABELS
from carteiro.web.pages.dispatches import STATUS_LABELS as DISPATCH_LABELS
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

# The lead's page shows the latest few; the rest is one link away.
ON_LEAD_PAGE = 10


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: Literal["disparo", "whatsapp_recebido", "agendamento"]
    item: TimelineItem | None = None
    appointment: AgendamentoPublic | None = None


def entries(
    session: Session, *, tenant_id: int, lead_id: int, limit: int, offset: int = 0
) -> tuple[list[Entry], int]:
    """One page of the merged timeline and the whole timeline's size. Each source gives its
    latest `offset + limit`, which is enough for that page of the merge; pages reach back
    through the latest MAX_ITEMS entries (the API's timeline cap)."""
    wanted = max(1, min(offset + limit, timeline.MAX_ITEMS))
    contacts = timeline.of_lead(session, tenant_id=tenant_id, lead_id=lead_id, limit=wanted)
    booked, booked_total = appointments.list_(
        session, tenant_id=tenant_id, lead_id=lead_id, limit=wanted, latest_first=True
    )
    merged = [Entry(at=i.at, kind=i.kind, item=i) for i in contacts.items] + [
        Entry(at=a.data_agendada, kind="agendamento", appointment=a)
        for a in appointment_public.many(session, booked)
    ]
    merged.sort(key=lambda e: e.at, reverse=True)
    total = timeline.count(session, tenant_id=tenant_id, lead_id=lead_id) + booked_total
    return merged[offset : offset + limit], total


def context(entries_: list[Entry]) -> dict[str, object]:
    """What the timeline's template needs besides the entries' data."""
    return {
        "timeline": entries_,
        "appointment_labels": APPOINTMENT_LABELS,
        "dispatch_labels": DISPATCH_LABELS,
    }


@router.get("/ui/leads/{lead_id}/historico")
def lead_timeline(
    request: Request, session: Tx, person: Person, lead_id: PathId, offset: Offset = 0
) -> HTMLResponse:
    lead = leads.get_or_raise(session, tenant_id=person.tenant_id, lead_id=lead_id)
    found, total = entries(
        session, tenant_id=person.tenant_id, lead_id=lead_id, limit=PAGE_SIZE, offset=offset
    )
    title = lead.nome or lead.contato_nome or lead.lead_id_externo
    shown = min(total, timeline.MAX_ITEMS)
    return render.page(
        request,
        "lead_timeline.html",
        {
            "section": "leads",
            "tab": "leads",
            "lead_id": lead_id,
            "lead_title": title,
            "page": page_of(request, found, total=shown, limit=PAGE_SIZE, offset=offset),
            "total": total,
            "max_items": timeline.MAX_ITEMS,
            **context(found),
        },
    )

"""Dispatches in the console: the list with filters, one dispatch with its event log, the
dead-letter view and its requeue."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.dispatches import service
from carteiro.dispatches.models import STATUSES
from carteiro.dispatches.schemas import DeadLetterPublic, DisparoPublic
from carteiro.errors import InvalidInput
from carteiro.web import acting, render
from carteiro.web.deps import Operator, Person
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

STATUS_LABELS = {
    "pendente": render.N_("pending"),
    "enviado": render.N_("sent"),
    "confirmado": render.N_("delivered"),
    "erro": render.N_("failed"),
    "cancelado": render.N_("cancelled"),
}
NOTICES = {"requeued": render.N_("Sent again as a new dispatch.")}
DETAIL_NOTICES = {"cancelled": render.N_("Cancelled: it will not be sent.")}


@router.get("/ui/disparos")
def dispatches_list(
    request: Request,
    session: Tx,
    person: Person,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=16)] = None,
    dead: bool = False,
    notice: str | None = None,
) -> HTMLResponse:
    if status and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    principal = acting.principal(person)
    items: list[DeadLetterPublic] | list[DisparoPublic]
    if dead:
        rows, total = service.list_dead(
            session, principal=principal, limit=PAGE_SIZE, offset=offset
        )
        items = [service.dead_public(dl, d) for dl, d in rows]
    else:
        found, total = service.list_(
            session, principal=principal, status=status or None, limit=PAGE_SIZE, offset=offset
        )
        items = [service.public(session, d) for d in found]
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "dispatches.html",
        {
            "section": "leads",
            "tab": "dead" if dead else "disparos",
            "dead": dead,
            "page": page_of(request, items, total=total, limit=PAGE_SIZE, offset=offset),
            "status": status or "",
            "statuses": STATUS_LABELS,
            "can_edit": person.at_least("operator"),
            "notice": render.text(request, msgid) if msgid else None,
        },
    )


@router.post("/ui/disparos/{disparo_id}/requeue")
def dispatch_requeue(session: Tx, person: Operator, disparo_id: PathId) -> Response:
    service.requeue(session, principal=acting.principal(person), disparo_id=disparo_id)
    return RedirectResponse("/ui/disparos?dead=true&notice=requeued", status_code=303)


@router.get("/ui/disparos/{disparo_id}")
def dispatch_detail(
    request: Request, session: Tx, person: Person, disparo_id: PathId, notice: str | None = None
) -> HTMLResponse:
    principal = acting.principal(person)
    d = service.get_or_raise(session, principal=principal, disparo_id=disparo_id)
    msgid = DETAIL_NOTICES.get(notice or "")
    return render.page(
        request,
        "dispatch.html",
        {
            "section": "leads",
            "tab": "disparos",
            "d": service.public(session, d, with_events=True),
            "statuses": STATUS_LABELS,
            "can_edit": person.at_least("operator"),
            "notice": render.text(request, msgid) if msgid else None,
        },
    )


@router.post("/ui/disparos/{disparo_id}/cancel")
def dispatch_cancel(session: Tx, person: Operator, disparo_id: PathId) -> Response:
    service.cancel(session, principal=acting.principal(person), disparo_id=disparo_id)
    return RedirectResponse(f"/ui/disparos/{disparo_id}?notice=cancelled", status_code=303)

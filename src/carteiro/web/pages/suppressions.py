"""The suppression list: search it, add an address or a domain, remove an entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.leads import suppression
from carteiro.leads.schemas import REASONS
from carteiro.web import acting, domain_texts, render
from carteiro.web.deps import Operator, Person, WebPerson
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

REASON_LABELS = {
    "hard_bounce": render.N_("hard bounce"),
    "complaint": render.N_("complaint"),
    "unsubscribe": render.N_("unsubscribed"),
    "manual": render.N_("added by hand"),
}
NOTICES = {
    "added": render.N_("Added: nothing more is sent to it."),
    "exists": render.N_("It was already on the list; the first entry is kept."),
    "removed": render.N_("Removed: mail to it is allowed again."),
}


def _list_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    *,
    q: str = "",
    reason: str = "",
    offset: int = 0,
    notice: str | None = None,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    if reason and reason not in REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REASONS)}", field="reason")
    rows, total = suppression.list_(
        session,
        tenant_id=person.tenant_id,
        reason=reason or None,
        search=q or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "suppressions.html",
        {
            "section": "leads",
            "tab": "suppressions",
            "page": page_of(request, rows, total=total, limit=PAGE_SIZE, offset=offset),
            "filters": {"q": q, "reason": reason},
            "filtered": bool(q or reason),
            "reasons": REASON_LABELS,
            "can_edit": person.at_least("operator"),
            "notice": render.text(request, msgid) if msgid else None,
            "values": values or {"reason": "manual"},
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/suppressions")
def suppressions_list(
    request: Request,
    session: Tx,
    person: Person,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=320)] = None,
    reason: Annotated[str | None, Query(max_length=16)] = None,
    notice: str | None = None,
) -> HTMLResponse:
    return _list_page(
        request,
        session,
        person,
        q=(q or "").strip(),
        reason=reason or "",
        offset=offset,
        notice=notice,
    )


@router.post("/ui/suppressions")
def suppression_add(
    request: Request,
    session: Tx,
    person: Operator,
    value: Annotated[str, Form(max_length=320)] = "",
    reason: Annotated[str, Form(max_length=16)] = "manual",
) -> Response:
    target = value.strip()
    values = {"value": value, "reason": reason}
    try:
        if not target:
            raise InvalidInput("type an address or a domain", field="value")
        is_address = "@" in target
        row, created = suppression.suppress(
            session,
            tenant_id=person.tenant_id,
            email=target if is_address else None,
            domain=None if is_address else target,
            reason=reason,
            source="console",
            detail={"by": person.email},
        )
    except CarteiroError as exc:
        known = {
            "email": render.N_(
                "Type a valid address, such as maria@example.com, or a domain such as example.com."
            ),
            "domain": render.N_("Type a valid domain, such as example.com, or an address."),
            "value": render.N_("Type an address (maria@example.com) or a domain (example.com)."),
            "reason": render.N_("Choose a reason from the list."),
        }
        field = "value" if exc.field in ("email", "domain", "value") else exc.field
        msgid = known.get(exc.field or "")
        return _list_page(
            request,
            session,
            person,
            values=values,
            error=render.text(request, msgid) if msgid else domain_texts.message_of(request, exc),
            field=field,
            status=exc.status,
        )
    if created:
        acting.record(
            request,
            session,
            person,
            "suppression_add",
            target_type="suppression",
            target_id=row.id,
            detail={"value": row.value, "reason": row.reason},
        )
    return RedirectResponse(
        f"/ui/suppressions?notice={'added' if created else 'exists'}", status_code=303
    )


@router.post("/ui/suppressions/{suppression_id}/delete")
def suppression_remove(
    request: Request, session: Tx, person: Operator, suppression_id: PathId
) -> Response:
    row = suppression.delete(session, tenant_id=person.tenant_id, suppression_id=suppression_id)
    acting.record(
        request,
        session,
        person,
        "delete",
        target_type="suppression",
        target_id=suppression_id,
        detail={"value": row.value, "reason": row.reason},
    )
    return RedirectResponse("/ui/suppressions?notice=removed", status_code=303)

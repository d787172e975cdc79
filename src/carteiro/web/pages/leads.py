"""Leads: the list with its filters in the URL, and a lead's page (data, consent, messages)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from carteiro.api.deps import Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.inbound import service as inbox
from carteiro.leads import consent, export, service
from carteiro.leads.models import CONSENT, LEAD_STATUSES
from carteiro.leads.schemas import LeadUpdate
from carteiro.tenancy import access
from carteiro.web import acting, domain_texts, render
from carteiro.web.deps import Operator, Person, WebPerson
from carteiro.web.pages import lead_history
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

# Stored values are Portuguese (seed names); pages show them through these msgids.
STATUS_LABELS = {
    "novo": render.N_("new"),
    "contatado": render.N_("contacted"),
    "qualificado": render.N_("qualified"),
    "convertido": render.N_("converted"),
    "descartado": render.N_("discarded"),
}
CONSENT_LABELS = {
    "unknown": render.N_("consent unknown"),
    "opt_in": render.N_("opted in"),
    "opt_out": render.N_("opted out"),
}
PHONE_LABELS = {
    "mobile": render.N_("mobile"),
    "landline": render.N_("landline"),
    "other": render.N_("other"),
}
NOTICES = {
    "saved": render.N_("Saved."),
    "consent": render.N_("Consent recorded for this address on every lead that has it."),
}
MAX_THREADS = 50


def _choice(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}", field=field)
    return value


@router.get("/ui/leads")
def leads_list(
    request: Request,
    session: Tx,
    person: Person,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    consent_: Annotated[str | None, Query(alias="consent", max_length=16)] = None,
    company: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    filters = {
        "q": (q or "").strip(),
        "status": _choice(status, LEAD_STATUSES, "status") or "",
        "tag": (tag or "").strip(),
        "consent": _choice(consent_, CONSENT, "consent") or "",
        "company": (company or "").strip(),
    }
    found, total = service.list_(
        session,
        tenant_id=person.tenant_id,
        q=filters["q"] or None,
        status=filters["status"] or None,
        tag=filters["tag"] or None,
        consent=filters["consent"] or None,
        company=filters["company"] or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    summaries = service.public_page(session, found, total=total, limit=PAGE_SIZE, offset=offset)
    return render.page(
        request,
        "leads.html",
        {
            "section": "leads",
            "tab": "leads",
            "page": page_of(request, summaries.items, total=total, limit=PAGE_SIZE, offset=offset),
            "filters": filters,
            "filtered": any(filters.values()),
            "statuses": STATUS_LABELS,
            "consents": CONSENT_LABELS,
            "can_import": person.at_least("operator"),
            "export_url": "/ui/leads/export?" + urlencode({k: v for k, v in filters.items() if v}),
        },
    )


@router.get("/ui/leads/export")
def leads_export(
    request: Request,
    session: Tx,
    rt: Rt,
    person: Operator,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    consent_: Annotated[str | None, Query(alias="consent", max_length=16)] = None,
    company: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """The list's current filter as a CSV file, streamed; an export in the audit log."""
    wanted = service.LeadFilter(
        q=(q or "").strip() or None,
        status=_choice(status, LEAD_STATUSES, "status"),
        tag=(tag or "").strip() or None,
        consent=_choice(consent_, CONSENT, "consent"),
        company=(company or "").strip() or None,
    )
    lines = export.csv_lines(rt.db, tenant_id=person.tenant_id, filter=wanted)
    acting.record(
        request,
        session,
        person,
        "export",
        target_type="leads",
        detail={
            "format": "csv",
            "filters": {k: v for k, v in asdict(wanted).items() if v is not None},
        },
    )
    name = f"leads-{utcnow():%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        (line.encode() for line in lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _lead_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    lead_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lead = service.get_or_raise(session, tenant_id=person.tenant_id, lead_id=lead_id)
    visible = access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )
    # Mail sent through mailboxes this person was not granted stays hidden, as in the outbox.
    detail = service.detail(session, lead, account_ids=visible)
    threads = inbox.list_threads(
        session, tenant_id=person.tenant_id, lead_id=lead.lead_id, limit=MAX_THREADS
    )
    # Threads of mailboxes this person was not granted stay hidden, as in the inbox.
    shown = [t for t in threads.items if visible is None or t.account_id in visible]
    recent, timeline_total = lead_history.entries(
        session, tenant_id=person.tenant_id, lead_id=lead.lead_id, limit=lead_history.ON_LEAD_PAGE
    )
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "lead.html",
        {
            "section": "leads",
            "tab": "leads",
            "lead": detail,
            "lead_title": detail.nome
            or detail.contato_nome
            or detail.email_principal
            or detail.lead_id_externo,
            "threads": shown,
            **lead_history.context(recent),
            "timeline_total": timeline_total,
            "statuses": STATUS_LABELS,
            "consents": CONSENT_LABELS,
            "phone_types": PHONE_LABELS,
            "can_edit": person.at_least("operator"),
            "values": values or {"status": detail.status, "tags": ", ".join(detail.tags)},
            "notice": render.text(request, msgid) if msgid else None,
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/leads/{lead_id}")
def lead_page(
    request: Request, session: Tx, person: Person, lead_id: PathId, notice: str | None = None
) -> HTMLResponse:
    return _lead_page(request, session, person, lead_id, notice=notice)


def _tags(raw: str) -> list[str]:
    return [t for t in (part.strip() for part in raw.replace("\n", ",").split(",")) if t]


@router.post("/ui/leads/{lead_id}")
def lead_update(
    request: Request,
    session: Tx,
    person: Operator,
    lead_id: PathId,
    status: Annotated[str, Form(max_length=32)] = "",
    tags: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    values = {"status": status, "tags": tags}
    try:
        wanted = _choice(status, LEAD_STATUSES, "status")
        if wanted is None:
            raise InvalidInput("status: choose one of the list", field="status")
        data = LeadUpdate.model_validate({"status": wanted, "tags": _tags(tags)})
        before = service.get_or_raise(session, tenant_id=person.tenant_id, lead_id=lead_id)
        old = {"status": before.status, "tags": list(before.tags or [])}
        lead = service.update(session, tenant_id=person.tenant_id, lead_id=lead_id, data=data)
    except CarteiroError as exc:
        return _lead_page(
            request,
            session,
            person,
            lead_id,
            error=_message(request, exc),
            field=exc.field,
            values=values,
            status=exc.status,
        )
    except ValueError:  # pydantic's ValidationError: too many tags
        return _lead_page(
            request,
            session,
            person,
            lead_id,
            error=render.text(request, "Use at most 50 tags of up to 64 characters each."),
            field="tags",
            values=values,
            status=422,
        )
    acting.record(
        request,
        session,
        person,
        "lead_update",
        target_type="lead",
        target_id=lead.lead_id,
        detail={"before": old, "after": {"status": lead.status, "tags": list(lead.tags)}},
    )
    return RedirectResponse(f"/ui/leads/{lead.lead_id}?notice=saved", status_code=303)


def _message(request: Request, exc: CarteiroError) -> str:
    known = {
        "status": render.N_("Choose a status from the list."),
        "tags": render.N_("Use at most 50 tags of up to 64 characters each."),
        "consent": render.N_("Choose a consent state from the list."),
    }
    msgid = known.get(exc.field or "")
    return render.text(request, msgid) if msgid else domain_texts.message_of(request, exc)


@router.post("/ui/leads/{lead_id}/emails/{email_id}/consent")
def lead_consent(
    request: Request,
    session: Tx,
    person: Operator,
    lead_id: PathId,
    email_id: PathId,
    consentimento: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        if consentimento not in CONSENT:
            raise InvalidInput("consent: choose one of the list", field="consent")
        row = consent.set_consent(
            session,
            tenant_id=person.tenant_id,
            lead_id=lead_id,
            email_id=email_id,
            consentimento=consentimento,
            origem=f"console: {person.email}"[:255],
        )
    except CarteiroError as exc:
        if exc.status == 404:
            raise
        return _lead_page(
            request,
            session,
            person,
            lead_id,
            error=_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    acting.record(
        request,
        session,
        person,
        "consent_update",
        target_type="lead_email",
        target_id=row.email_id,
        detail={"lead_id": lead_id, "email": row.email, "consent": consentimento},
    )
    return RedirectResponse(f"/ui/leads/{lead_id}?notice=consent", status_code=303)

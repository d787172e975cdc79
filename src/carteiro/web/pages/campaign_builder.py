"""The campaign builder: audience, content with a live preview, schedule, A/B, the lint, and
save / test send / schedule, all through the campaigns service."""

from __future__ import annotations

import html as html_lib
import re
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carteiro.accounts import service as accounts
from carteiro.api.deps import PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.campaigns import catalog, drafts, service
from carteiro.campaigns.schemas import LintReport
from carteiro.config import Settings
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.inbound.display import OPEN_CSP
from carteiro.web import acting, domain_texts, render
from carteiro.web.deps import Operator, WebPerson
from carteiro.web.i18n import HTML_LANG
from carteiro.web.pages import campaign_form as forms

router = Router(include_in_schema=False)

WEEKDAYS = (
    render.N_("Mon"),
    render.N_("Tue"),
    render.N_("Wed"),
    render.N_("Thu"),
    render.N_("Fri"),
    render.N_("Sat"),
    render.N_("Sun"),
)
NOTICES = {
    "saved": render.N_("Draft saved."),
    "tested": render.N_("Test message queued (subject marked [TEST], outside the stats)."),
}


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _context(
    request: Request,
    session: Session,
    person: WebPerson,
    draft: forms.Draft,
    *,
    campaign_id: int | None,
    error: str | None = None,
    field: str | None = None,
    notice: str | None = None,
    lint: LintReport | None = None,
) -> dict[str, Any]:
    tenant = person.tenant_id
    return {
        "section": "campaigns",
        "d": draft,
        "campaign_id": campaign_id,
        "action": f"/ui/campanhas/{campaign_id}/editar" if campaign_id else "/ui/campanhas/nova",
        "segments": catalog.list_segments(session, tenant_id=tenant),
        "templates": catalog.list_templates(session, tenant_id=tenant),
        "accounts": accounts.list_(session, tenant_id=tenant),
        "formats": forms.FORMATS,
        "consents": forms.CONSENTS,
        "weekdays": WEEKDAYS,
        "error": error,
        "field": field,
        "notice": render.text(request, NOTICES[notice]) if notice in NOTICES else None,
        "lint": lint,
    }


def _page(
    request: Request,
    session: Session,
    person: WebPerson,
    draft: forms.Draft,
    *,
    campaign_id: int | None,
    status: int = 200,
    **kw: Any,
) -> HTMLResponse:
    ctx = _context(request, session, person, draft, campaign_id=campaign_id, **kw)
    return render.page(request, "campaign_builder.html", ctx, status=status)


# What each field is called on the page, for messages about a refused value.
_FIELD_LABELS = {
    "name": render.N_("Campaign name"),
    "subject": render.N_("Subject"),
    "preheader": render.N_("Preheader"),
    "content": render.N_("Body"),
    "text": render.N_("Plain-text version"),
    "from_name": render.N_("Sender name"),
    "weight": render.N_("Weight"),
    "format": render.N_("Body format"),
    "send_at": render.N_("Date and time"),
    "window_start": render.N_("Window start"),
    "window_end": render.N_("Window end"),
    "default_tz": render.N_("Time zone"),
    "test_fraction": render.N_("Test share"),
    "wait_hours": render.N_("Wait (hours)"),
    "min_per_variant": render.N_("Minimum per variant"),
    "tag": render.N_("Tag"),
    "status": render.N_("Lead status"),
    "reply_to": render.N_("Reply-to address"),
}
# Pydantic's error kinds people meet on this form, as sentences; others keep pydantic's text.
_KIND_TEXTS = {
    "missing": render.N_("%(field)s: fill it in."),
    "string_too_short": render.N_("%(field)s: fill it in."),
    "string_too_long": render.N_("%(field)s is too long."),
    "greater_than": render.N_("%(field)s is too small."),
    "greater_than_equal": render.N_("%(field)s is too small."),
    "less_than": render.N_("%(field)s is too large."),
    "less_than_equal": render.N_("%(field)s is too large."),
    "int_parsing": render.N_("%(field)s must be a whole number."),
    "float_parsing": render.N_("%(field)s must be a number."),
}


def _validation_message(request: Request, exc: ValidationError) -> tuple[str, str]:
    """(form field, a sentence in the person's language) for a value the schema refused."""
    where, raw = forms.validation_field(exc)
    slot = re.fullmatch(r"v(\d)_(\w+)", where)
    base = slot.group(2) if slot else where
    label = _FIELD_LABELS.get(base)
    kind = _KIND_TEXTS.get(exc.errors()[0]["type"])
    if label is None or kind is None:
        return where, raw
    name = render.text(request, label)
    if slot and slot.group(1) != "0":
        name = f"{name} ({forms.LABELS[int(slot.group(1))]})"
    return where, render.text(request, kind, field=name)


def _refused(
    request: Request,
    session: Session,
    person: WebPerson,
    draft: forms.Draft,
    exc: Exception,
    *,
    campaign_id: int | None,
    lint: LintReport | None = None,
) -> HTMLResponse:
    """The form again, as it was sent, with the error next to the field it names."""
    if isinstance(exc, ValidationError):
        where, message = _validation_message(request, exc)
        status = 422
    else:
        assert isinstance(exc, CarteiroError)
        where = forms.form_field(exc.field) or "name"
        message, status = domain_texts.message_of(request, exc), exc.status
    return _page(
        request,
        session,
        person,
        draft,
        campaign_id=campaign_id,
        status=status,
        error=message,
        field=where,
        lint=lint,
    )


@router.get("/ui/campanhas/nova")
def builder_new(request: Request, session: Tx, person: Operator) -> HTMLResponse:
    return _page(request, session, person, forms.Draft(), campaign_id=None)


@router.get("/ui/campanhas/{campaign_id}/editar", response_model=None)
def builder_edit(
    request: Request,
    session: Tx,
    person: Operator,
    campaign_id: PathId,
    notice: str | None = None,
) -> Response:
    principal = acting.principal(person)
    c = service.public(
        session, service.get_or_raise(session, principal=principal, campaign_id=campaign_id)
    )
    if c.status != "draft":
        # Only a draft is built here; anything further along is followed on its panel.
        return RedirectResponse(f"/ui/campaigns/{campaign_id}", status_code=303)
    variants = service.variants_in(session, principal=principal, campaign_id=campaign_id)
    draft = forms.from_campaign(c, variants=variants, timezone=person.timezone)
    return _page(request, session, person, draft, campaign_id=campaign_id, notice=notice)


def _save(session: Session, person: WebPerson, draft: forms.Draft, campaign_id: int | None) -> int:
    principal = acting.principal(person)
    if campaign_id is None:
        data = forms.create_request(draft, timezone=person.timezone)
        return service.create(session, principal=principal, data=data).id
    update = forms.update_request(draft, timezone=person.timezone)
    return service.update(session, principal=principal, campaign_id=campaign_id, data=update).id


def _act(
    session: Session,
    settings: Settings,
    person: WebPerson,
    draft: forms.Draft,
    campaign_id: int,
    action: str,
) -> None:
    principal = acting.principal(person)
    if action == "test":
        to = [a.strip() for a in draft.test_to.split(",") if a.strip()]
        if not to:
            raise InvalidInput("give an address for the test message", field="to")
        lead = int(draft.preview_lead) if draft.preview_lead.isdigit() else None
        service.test_send(
            session,
            principal=principal,
            campaign_id=campaign_id,
            settings=settings,
            to=to,
            lead_id=lead,
        )
    elif action == "schedule":
        service.schedule(session, principal=principal, campaign_id=campaign_id, settings=settings)


def _submit(
    request: Request,
    rt: Rt,
    session: Session,
    person: WebPerson,
    form: FormData,
    campaign_id: int | None,
) -> Response:
    draft = forms.from_form(form)
    action = str(form.get("action") or "save")
    if action not in ("save", "test", "schedule"):
        action = "save"
    try:
        with session.begin_nested():
            saved = _save(session, person, draft, campaign_id)
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, CarteiroError) and exc.status in (401, 403, 404):
            raise
        return _refused(request, session, person, draft, exc, campaign_id=campaign_id)
    # The draft stays saved whatever the action does: a failed lint keeps the work.
    try:
        with session.begin_nested():
            _act(session, rt.settings, person, draft, saved, action)
    except CarteiroError as exc:
        if exc.status in (401, 403, 404):
            raise
        lint = None
        if action == "schedule":
            lint = service.run_lint(
                session,
                principal=acting.principal(person),
                campaign_id=saved,
                settings=rt.settings,
            )
        acting.record(
            request, session, person, "campaign.save", target_type="campaign", target_id=saved
        )
        return _refused(request, session, person, draft, exc, campaign_id=saved, lint=lint)
    acting.record(
        request,
        session,
        person,
        f"campaign.{'save' if action == 'save' else action}",
        target_type="campaign",
        target_id=saved,
    )
    if action == "schedule":
        return RedirectResponse(f"/ui/campaigns/{saved}", status_code=303)
    notice = "tested" if action == "test" else "saved"
    return RedirectResponse(f"/ui/campanhas/{saved}/editar?notice={notice}", status_code=303)


@router.post("/ui/campanhas/nova")
def builder_create(request: Request, rt: Rt, session: Tx, person: Operator, form: Form) -> Response:
    return _submit(request, rt, session, person, form, None)


@router.post("/ui/campanhas/{campaign_id}/editar")
def builder_update(
    request: Request, rt: Rt, session: Tx, person: Operator, form: Form, campaign_id: PathId
) -> Response:
    return _submit(request, rt, session, person, form, campaign_id)


@router.post("/ui/campanhas/audiencia")
def audience_preview(request: Request, session: Tx, person: Operator, form: Form) -> HTMLResponse:
    """How many leads and addresses the audience selects, and a few of them (htmx)."""
    draft = forms.from_form(form)
    ctx: dict[str, Any] = {"audience": None, "audience_error": None, "d": draft}
    untouched = draft.audience_mode == "simple" and not (draft.tag or draft.status or draft.consent)
    try:
        if draft.audience_mode == "keep":
            ctx["audience_kept"] = True
        elif untouched:
            # A blank new form: say what to do, not what is wrong.
            ctx["audience_hint"] = True
        else:
            chosen = forms.payload_audience(draft)
            if "segment_id" in chosen:
                seg = catalog.get_segment(
                    session, tenant_id=person.tenant_id, segment_id=chosen["segment_id"]
                )
                definition: Any = forms.DEFINITION.validate_python(seg.definition)
            else:
                definition = forms.DEFINITION.validate_python(chosen["audience"])
            ctx["audience"] = catalog.preview(
                session, tenant_id=person.tenant_id, definition=definition, sample=5
            )
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, CarteiroError) and exc.status in (401, 403):
            raise
        ctx["audience_error"] = (
            domain_texts.message_of(request, exc)
            if isinstance(exc, CarteiroError)
            else _validation_message(request, exc)[1]
        )
    return render.fragment(request, "campaign_builder.html", "audience_preview", ctx)


def _preview(session: Session, settings: Settings, person: WebPerson, draft: forms.Draft) -> Any:
    data = forms.preview_request(draft, timezone=person.timezone)
    variant = int(draft.preview_variant) if draft.preview_variant.isdigit() else 0
    lead = int(draft.preview_lead) if draft.preview_lead.isdigit() else None
    return drafts.preview_unsaved(
        session,
        principal=acting.principal(person),
        data=data,
        settings=settings,
        lead_id=lead,
        variant=min(variant, len(data.variants) - 1),
    )


@router.post("/ui/campanhas/previa")
def content_preview(
    request: Request, rt: Rt, session: Tx, person: Operator, form: Form
) -> HTMLResponse:
    """The preview's heading (subject, recipient, variant) for htmx; the body goes to the
    sandboxed frame from /ui/campanhas/previa/quadro."""
    draft = forms.from_form(form)
    ctx: dict[str, Any] = {"preview": None, "preview_error": None}
    if draft.slots[0].empty():
        # Nothing typed yet: the template's hint, not an error about the empty subject.
        return render.fragment(request, "campaign_builder.html", "preview_summary", ctx)
    try:
        ctx["preview"] = _preview(session, rt.settings, person, draft)
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, CarteiroError) and exc.status in (401, 403):
            raise
        ctx["preview_error"] = (
            domain_texts.message_of(request, exc)
            if isinstance(exc, CarteiroError)
            else _validation_message(request, exc)[1]
        )
    return render.fragment(request, "campaign_builder.html", "preview_summary", ctx)


def _document(html: str | None, text: str, *, lang: str) -> str:
    """The tenant's own rendered message, unsanitised but inert (see the frame's CSP)."""
    if html and "<html" in html[:2000].lower():
        return html
    body = html if html else f"<pre>{html_lib.escape(text)}</pre>"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="referrer" content="no-referrer"></head><body>{body}</body></html>'
    )


@router.post("/ui/campanhas/previa/quadro")
def content_frame(
    request: Request, rt: Rt, session: Tx, person: Operator, form: Form
) -> HTMLResponse:
    """The previewed message as its own document, for the sandboxed frame (its own CSP)."""
    draft = forms.from_form(form)
    try:
        preview = _preview(session, rt.settings, person, draft)
        html, text = preview.html, preview.text
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, CarteiroError) and exc.status in (401, 403):
            raise
        html, text = None, render.text(request, "Nothing to preview yet.")
    lang = HTML_LANG.get(render.locale_of(request), "pt-BR")
    return HTMLResponse(
        _document(html, text, lang=lang),
        headers={
            # Nothing runs (no script source, and the frame's sandbox has no allow-scripts);
            # the message's own inline styles do, so the preview looks as the mail will.
            "Content-Security-Policy": OPEN_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/ui/campanhas/{campaign_id}/verificacao")
def lint_result(
    request: Request, rt: Rt, session: Tx, person: Operator, campaign_id: PathId
) -> HTMLResponse:
    """The pre-flight check of the saved draft (htmx), shown before scheduling."""
    report = service.run_lint(
        session, principal=acting.principal(person), campaign_id=campaign_id, settings=rt.settings
    )
    return render.fragment(
        request, "campaign_builder.html", "lint", {"lint": report, "campaign_id": campaign_id}
    )

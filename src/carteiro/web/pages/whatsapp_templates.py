"""The local WhatsApp template registry in the console: list, add, change and remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carteiro.api.deps import PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput, NotFound
from carteiro.web import acting, render
from carteiro.web.deps import Admin, Person, WebPerson
from carteiro.web.pages.whatsapp_forms import (
    TEMPLATE_HINTS,
    Problem,
    params_text,
    parse_template,
    problem,
    template_values,
)
from carteiro.web.security import form_values
from carteiro.whatsapp import editing
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.models import WhatsAppTemplate
from carteiro.whatsapp.schemas import TemplateCreate

router = Router(include_in_schema=False)

CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
FORMATS = {"named": render.N_("named ({{nome}})"), "positional": render.N_("positional ({{1}})")}
NOTICES = {
    "created": render.N_("The template was registered: dispatches now check their variables."),
    "saved": render.N_("Saved."),
    "deleted": render.N_("The template was removed from the registry."),
}


def _audit(
    request: Request, session: Session, person: WebPerson, action: str, template_id: int
) -> None:
    acting.record(
        request, session, person, action, target_type="whatsapp_template", target_id=template_id
    )


@router.get("/ui/whatsapp/templates")
def templates_list(
    request: Request, session: Tx, person: Person, notice: str | None = None
) -> HTMLResponse:
    rows = whatsapp.list_templates(session, tenant_id=person.tenant_id)
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "whatsapp_templates.html",
        {
            "section": "leads",
            "tab": "whatsapp",
            "subtab": "templates",
            "templates": [(t, params_text(list(t.params))) for t in rows],
            "formats": FORMATS,
            "can_edit": person.at_least("admin"),
            "notice": render.text(request, msgid) if msgid else None,
        },
    )


def _form(
    request: Request,
    *,
    values: dict[str, str],
    template: WhatsAppTemplate | None = None,
    error: Problem | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "whatsapp_template_form.html",
        {
            "section": "leads",
            "tab": "whatsapp",
            "template": template,
            "values": values,
            "categories": CATEGORIES,
            "formats": FORMATS,
            "error": error.message if error else None,
            "field": error.field if error else None,
        },
        status=status,
    )


@router.get("/ui/whatsapp/templates/new")
def template_new(request: Request, person: Admin) -> HTMLResponse:
    values = {"language": "pt_BR", "category": "UTILITY", "param_format": "named"}
    return _form(request, values=values)


@router.post("/ui/whatsapp/templates")
async def template_create(request: Request, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> None:
        data = TemplateCreate.model_validate(parse_template(values))
        t = whatsapp.create_template(session, tenant_id=person.tenant_id, data=data)
        _audit(request, session, person, "whatsapp_template_create", t.id)

    try:
        await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        error = problem(request, exc, hints=TEMPLATE_HINTS)
        return _form(request, values=values, error=error, status=422)
    return RedirectResponse("/ui/whatsapp/templates?notice=created", status_code=303)


@router.get("/ui/whatsapp/templates/{template_id}/edit")
def template_edit(
    request: Request, template_id: PathId, session: Tx, person: Admin
) -> HTMLResponse:
    t = editing.get_template_or_raise(session, tenant_id=person.tenant_id, template_id=template_id)
    return _form(request, values=template_values(t), template=t)


@router.post("/ui/whatsapp/templates/{template_id}")
async def template_update(request: Request, template_id: PathId, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> None:
        editing.update_template(
            session,
            tenant_id=person.tenant_id,
            template_id=template_id,
            data=TemplateCreate.model_validate(parse_template(values)),
        )
        _audit(request, session, person, "whatsapp_template_update", template_id)

    try:
        await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, NotFound):
            raise
        error = problem(request, exc, hints=TEMPLATE_HINTS)

        def _page(session: Session) -> HTMLResponse:
            t = editing.get_template_or_raise(
                session, tenant_id=person.tenant_id, template_id=template_id
            )
            return _form(request, values=values, template=t, error=error, status=422)

        return await in_transaction(rt, _page)
    return RedirectResponse("/ui/whatsapp/templates?notice=saved", status_code=303)


@router.post("/ui/whatsapp/templates/{template_id}/delete")
def template_delete(
    request: Request,
    template_id: PathId,
    session: Tx,
    person: Admin,
    confirm: Annotated[str, Form(max_length=128)] = "",
) -> RedirectResponse:
    t = editing.get_template_or_raise(session, tenant_id=person.tenant_id, template_id=template_id)
    if confirm != t.name:
        raise InvalidInput("type the template's name to confirm", field="confirm")
    editing.delete_template(session, tenant_id=person.tenant_id, template_id=template_id)
    _audit(request, session, person, "whatsapp_template_delete", template_id)
    return RedirectResponse("/ui/whatsapp/templates?notice=deleted", status_code=303)

"""WhatsApp numbers in the console: the list with breaker state and current rate, a form to add
or change one (secrets write-only), pause and resume, and a test send of a template."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carteiro.api.deps import PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, NotFound
from carteiro.web import acting, render
from carteiro.web.deps import Admin, Person, WebPerson
from carteiro.web.pages.whatsapp_forms import Problem, number_values, parse_number, problem
from carteiro.web.security import form_values
from carteiro.whatsapp import editing, trial
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.models import PROVIDERS, WhatsAppNumber
from carteiro.whatsapp.provider import SendResult
from carteiro.whatsapp.registry import Providers
from carteiro.whatsapp.schemas import NumberCreate, NumberPublic, NumberUpdate

router = Router(include_in_schema=False)

NOTICES = {
    "created": render.N_(
        "The number was added. Point the webhook of your Meta app at the address shown."
    ),
    "saved": render.N_("Saved."),
    "paused": render.N_("The number is paused: nothing is sent through it until you resume it."),
    "resumed": render.N_("The number is active again."),
}
# Own words: Portuguese needs the masculine for a number ("ativo"), not the account's "ativa".
STATES = {"active": render.N_("in service"), "paused": render.N_("on hold")}
BREAKER = {
    "closed": render.N_("closed: sending"),
    "open": render.N_("open until %(until)s"),
    "half_open": render.N_("half-open: the next send tests it"),
    "manual": render.N_("paused by hand until resumed"),
}


def _notice(request: Request, code: str | None) -> str | None:
    msgid = NOTICES.get(code or "")
    return render.text(request, msgid) if msgid else None


def breaker(number: NumberPublic, now: datetime) -> str:
    """The circuit breaker's state as the list shows it."""
    if number.status == "active":
        return "closed"
    if number.paused_until is None:
        return "manual"
    return "open" if number.paused_until > now else "half_open"


def _audit(
    request: Request, session: Session, person: WebPerson, action: str, number_id: int
) -> None:
    acting.record(
        request, session, person, action, target_type="whatsapp_number", target_id=number_id
    )


@router.get("/ui/whatsapp")
def numbers_list(
    request: Request, session: Tx, person: Person, notice: str | None = None
) -> HTMLResponse:
    now = utcnow()
    rows = [
        whatsapp.number_public(n, now=now)
        for n in whatsapp.list_numbers(session, tenant_id=person.tenant_id)
    ]
    return render.page(
        request,
        "whatsapp_numbers.html",
        {
            "section": "leads",
            "tab": "whatsapp",
            "subtab": "numbers",
            "numbers": [(n, breaker(n, now)) for n in rows],
            "breaker_labels": BREAKER,
            "states": STATES,
            "can_edit": person.at_least("admin"),
            "notice": _notice(request, notice),
        },
    )


def _form(
    request: Request,
    *,
    values: dict[str, str],
    number: WhatsAppNumber | None = None,
    error: Problem | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "whatsapp_number_form.html",
        {
            "section": "leads",
            "tab": "whatsapp",
            "number": whatsapp.number_public(number) if number is not None else None,
            "values": values,
            "providers": PROVIDERS,
            "error": error.message if error else None,
            "field": error.field if error else None,
        },
        status=status,
    )


@router.get("/ui/whatsapp/numbers/new")
def number_new(request: Request, person: Admin) -> HTMLResponse:
    return _form(
        request, values={"provider": "cloud", "rate_per_second": "80", "pair_interval_seconds": "6"}
    )


@router.post("/ui/whatsapp/numbers")
async def number_create(request: Request, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> int:
        data = NumberCreate.model_validate(parse_number(values, new=True))
        number = whatsapp.create_number(
            session,
            tenant_id=person.tenant_id,
            data=data,
            vault=rt.vault,
            evolution_enabled=rt.settings.whatsapp_evolution_enabled,
        )
        _audit(request, session, person, "whatsapp_number_create", number.id)
        return number.id

    try:
        await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        return _form(request, values=values, error=problem(request, exc), status=422)
    return RedirectResponse("/ui/whatsapp?notice=created", status_code=303)


@router.get("/ui/whatsapp/numbers/{number_id}/edit")
def number_edit(request: Request, number_id: PathId, session: Tx, person: Admin) -> HTMLResponse:
    number = whatsapp.get_number_or_raise(session, tenant_id=person.tenant_id, ref=number_id)
    return _form(request, values=number_values(number), number=number)


@router.post("/ui/whatsapp/numbers/{number_id}")
async def number_update(request: Request, number_id: PathId, rt: Rt, person: Admin) -> Response:
    values = await form_values(request)

    def _save(session: Session) -> None:
        editing.update_number(
            session,
            tenant_id=person.tenant_id,
            ref=number_id,
            data=NumberUpdate.model_validate(parse_number(values, new=False)),
            vault=rt.vault,
        )
        _audit(request, session, person, "whatsapp_number_update", number_id)

    try:
        await in_transaction(rt, _save)
    except (ValidationError, CarteiroError) as exc:
        if isinstance(exc, NotFound):
            raise
        error = problem(request, exc)

        def _page(session: Session) -> HTMLResponse:
            number = whatsapp.get_number_or_raise(
                session, tenant_id=person.tenant_id, ref=number_id
            )
            return _form(request, values=values, number=number, error=error, status=422)

        return await in_transaction(rt, _page)
    return RedirectResponse("/ui/whatsapp?notice=saved", status_code=303)


@router.post("/ui/whatsapp/numbers/{number_id}/pause")
def number_pause(
    request: Request,
    number_id: PathId,
    session: Tx,
    person: Admin,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    why = reason.strip() or render.text(
        request, "paused in the console by %(who)s", who=person.email
    )
    editing.pause_number(session, tenant_id=person.tenant_id, ref=number_id, reason=why, until=None)
    _audit(request, session, person, "whatsapp_number_pause", number_id)
    return RedirectResponse("/ui/whatsapp?notice=paused", status_code=303)


@router.post("/ui/whatsapp/numbers/{number_id}/resume")
def number_resume(
    request: Request, number_id: PathId, session: Tx, person: Admin
) -> RedirectResponse:
    whatsapp.resume(session, tenant_id=person.tenant_id, ref=number_id)
    _audit(request, session, person, "whatsapp_number_resume", number_id)
    return RedirectResponse("/ui/whatsapp?notice=resumed", status_code=303)


# --- the test send ----------------------------------------------------------------------------


def _test_page(
    request: Request,
    session: Session,
    person: WebPerson,
    *,
    values: dict[str, str],
    result: SendResult | None = None,
    error: Problem | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "whatsapp_test.html",
        {
            "section": "leads",
            "tab": "whatsapp",
            "subtab": "test",
            "numbers": whatsapp.list_numbers(session, tenant_id=person.tenant_id),
            "templates": whatsapp.list_templates(session, tenant_id=person.tenant_id),
            "values": values,
            "result": result,
            "error": error.message if error else None,
            "field": error.field if error else None,
        },
        status=status,
    )


@router.get("/ui/whatsapp/test")
def test_form(request: Request, session: Tx, person: Admin) -> HTMLResponse:
    return _test_page(request, session, person, values={})


def _variables(text: str) -> dict[str, Any]:
    """`name=value` per line (blank lines ignored)."""
    pairs = (line.partition("=") for line in text.splitlines() if line.strip())
    return {k.strip(): v.strip() for k, _sep, v in pairs if k.strip()}


@router.post("/ui/whatsapp/test")
async def test_send(request: Request, rt: Rt, person: Admin) -> HTMLResponse:
    values = await form_values(request)

    def _prepare(session: Session) -> trial.Trial:
        return trial.prepare(
            session,
            tenant_id=person.tenant_id,
            to=values.get("to", ""),
            template=values.get("template", ""),
            variables=_variables(values.get("variables", "")),
            number_ref=values.get("number") or None,
        )

    try:
        prepared = await in_transaction(rt, _prepare)
    except CarteiroError as exc:
        if isinstance(exc, NotFound) and exc.field != "number":
            raise
        error = problem(request, exc)
        return await in_transaction(
            rt,
            lambda session: _test_page(
                request, session, person, values=values, error=error, status=422
            ),
        )
    # No transaction is held while the provider answers.
    providers = Providers(rt.settings, rt.vault)
    try:
        result = await trial.send(prepared, providers=providers)
    finally:
        await providers.aclose()

    def _page(session: Session) -> HTMLResponse:
        acting.record(
            request,
            session,
            person,
            "whatsapp_test_send",
            target_type="whatsapp_number",
            target_id=prepared.number.id,
            detail={"template": prepared.message.name, "accepted": result.accepted},
        )
        return _test_page(request, session, person, values=values, result=result)

    return await in_transaction(rt, _page)

"""Webhooks: list, create (the signing secret shown once), delete, each endpoint's delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from carteiro.api.deps import Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.events.types import EVENT_TYPES
from carteiro.web import acting, domain_texts, once, render
from carteiro.web.deps import Admin, WebPerson
from carteiro.web.paging import PAGE_SIZE, page_of
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.config import WebhookConfig
from carteiro.webhooks.schemas import WebhookCreate

router = Router(include_in_schema=False)

DELIVERY_STATUSES = ("pending", "delivering", "delivered", "failed")
WORDS = (
    render.N_("pending"),
    render.N_("delivering"),
    render.N_("delivered"),
    render.N_("failed"),
)
FIELD_MESSAGES = {
    "url": render.N_("Type the endpoint's public address, starting with https://."),
    "events": render.N_("Choose at least one event."),
    "secret": render.N_(
        "A secret has at least 16 characters; leave it empty to get one generated."
    ),
    "description": render.N_("A description fits on one line of up to 200 characters."),
}
NOTICES = {"deleted": render.N_("The webhook was deleted; nothing more is sent to it.")}


def _list_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    *,
    notice: str | None = None,
    values: dict[str, object] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    msgid = NOTICES.get(notice or "")
    return render.page(
        request,
        "webhooks.html",
        {
            "section": "integrations",
            "tab": "webhooks",
            "hooks": webhooks.list_(session, tenant_id=person.tenant_id),
            "event_types": EVENT_TYPES,
            "values": values or {"events": list(EVENT_TYPES)},
            "notice": render.text(request, msgid) if msgid else None,
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/webhooks")
def webhooks_list(
    request: Request, session: Tx, person: Admin, notice: str | None = None
) -> HTMLResponse:
    return _list_page(request, session, person, notice=notice)


@router.post("/ui/webhooks")
def webhook_create(
    request: Request,
    session: Tx,
    rt: Rt,
    person: Admin,
    url: Annotated[str, Form(max_length=2000)] = "",
    events: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    secret: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    values: dict[str, object] = {"url": url, "events": events, "description": description}
    try:
        try:
            data = WebhookCreate.model_validate(
                {
                    "url": url.strip(),
                    "events": events,
                    "secret": secret or None,
                    "description": description.strip() or None,
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "url"
            raise InvalidInput(f"{name}: {first['msg']}", field=name) from None
        created = webhooks.create(
            session,
            tenant_id=person.tenant_id,
            data=data,
            vault=rt.vault,
            allow_private=WebhookConfig.from_settings(rt.settings).webhook_allow_private,
        )
    except CarteiroError as exc:
        msgid = FIELD_MESSAGES.get(exc.field or "")
        # The service's own words name what is wrong with the URL (internal host, scheme…).
        message = domain_texts.message_of(request, exc) if exc.field == "url" else None
        text = render.text(request, msgid) if msgid else domain_texts.message_of(request, exc)
        return _list_page(
            request,
            session,
            person,
            values=values,
            error=f"{text} {message}" if message else text,
            field=exc.field,
            status=exc.status,
        )
    acting.record(
        request,
        session,
        person,
        "webhook_create",
        target_type="webhook",
        target_id=created.id,
        detail={"url": created.url, "events": created.events},
    )
    # POST/redirect/GET: a reload of the page that shows the secret does not post again.
    shown_at = f"/ui/webhooks/{created.id}/created"
    response = RedirectResponse(shown_at, status_code=303)
    generated = None if secret else created.secret  # a typed secret is never shown back
    kept = once.Once("webhook", created.id, person.user_id, generated)
    once.keep(response, rt, kept, path=shown_at)
    return response


@router.get("/ui/webhooks/{webhook_id}/created")
def webhook_created(
    request: Request, session: Tx, rt: Rt, person: Admin, webhook_id: PathId
) -> Response:
    """The new webhook with its generated secret, shown once; afterwards, its delivery log."""
    hook = webhooks.get_or_raise(session, tenant_id=person.tenant_id, webhook_id=webhook_id)
    kept = once.take(request, rt, kind="webhook", target_id=webhook_id, user_id=person.user_id)
    response: Response
    if kept is None:
        response = RedirectResponse(f"/ui/webhooks/{webhook_id}", status_code=303)
    else:
        response = render.page(
            request,
            "webhook_created.html",
            {
                "section": "integrations",
                "tab": "webhooks",
                "hook": {"id": hook.id, "url": hook.url, "secret": kept.value},
                "generated": kept.value is not None,
            },
        )
        response.headers["Cache-Control"] = "no-store"
    once.forget(response, request)
    return response


@router.get("/ui/webhooks/{webhook_id}")
def webhook_page(
    request: Request,
    session: Tx,
    person: Admin,
    webhook_id: PathId,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    if status and status not in DELIVERY_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status")
    hook = webhooks.get_or_raise(session, tenant_id=person.tenant_id, webhook_id=webhook_id)
    log = webhooks.deliveries(
        session,
        tenant_id=person.tenant_id,
        webhook_id=webhook_id,
        status=status or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render.page(
        request,
        "webhook.html",
        {
            "section": "integrations",
            "tab": "webhooks",
            "hook": webhooks.public(hook),
            "page": page_of(request, log.items, total=log.total, limit=PAGE_SIZE, offset=offset),
            "statuses": DELIVERY_STATUSES,
            "filters": {"status": status or ""},
        },
    )


@router.post("/ui/webhooks/{webhook_id}/delete")
def webhook_delete(request: Request, session: Tx, person: Admin, webhook_id: PathId) -> Response:
    hook = webhooks.get_or_raise(session, tenant_id=person.tenant_id, webhook_id=webhook_id)
    url = hook.url
    webhooks.delete(session, tenant_id=person.tenant_id, webhook_id=webhook_id)
    acting.record(
        request,
        session,
        person,
        "delete",
        target_type="webhook",
        target_id=webhook_id,
        detail={"url": url},
    )
    return RedirectResponse("/ui/webhooks?notice=deleted", status_code=303)

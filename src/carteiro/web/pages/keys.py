"""API keys: list, create (the plain key shown once), revoke; only what the console may grant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.db.types import INT32_MAX, utcnow
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.scopes import ALL_SCOPES, DEFAULT_KEY_SCOPES, EVERYTHING
from carteiro.web import acting, domain_texts, once, render
from carteiro.web.deps import Admin

router = Router(include_in_schema=False)

FIELD_MESSAGES = {
    "name": render.N_("Give the key a name that says who uses it, such as “CRM” or “sales agent”."),
    "scopes": render.N_("Choose at least one scope."),
    "allowed_recipients": render.N_(
        "Write one pattern a line, such as *@example.com; leave it empty for any recipient."
    ),
    "rate": render.N_(
        "The limit is a whole number of recipients per hour: 0 for none, empty for the "
        "server's default."
    ),
    "rate_limit_per_hour": render.N_(
        "The limit is a whole number of recipients per hour: 0 for none, "
        "empty for the server's default."
    ),
}
NOTICES = {
    "revoked": render.N_("The key was revoked: it no longer authenticates."),
    "shown": render.N_(
        "A new key is shown only once, right after it is created. If it was not copied, "
        "revoke it and create another."
    ),
}


def _usable(key: ApiKey, now: datetime) -> bool:
    """Not revoked and not expired (an OAuth access token past its lifetime)."""
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


@router.get("/ui/keys")
def keys_list(
    request: Request, session: Tx, person: Admin, notice: str | None = None
) -> HTMLResponse:
    keys = sorted(
        tenancy.list_keys(session, tenant_id=person.tenant_id),
        key=lambda k: (k.revoked_at is not None, -k.id),
    )
    msgid = NOTICES.get(notice or "")
    now = utcnow()
    return render.page(
        request,
        "keys.html",
        {
            "section": "integrations",
            "tab": "keys",
            "keys": keys,
            "active": [k for k in keys if _usable(k, now)],
            "revoked": [k for k in keys if not _usable(k, now)],
            "now": now,
            "notice": render.text(request, msgid) if msgid else None,
        },
    )


def _new_page(
    request: Request,
    rt: Rt,
    *,
    values: dict[str, object] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "key_new.html",
        {
            "section": "integrations",
            "tab": "keys",
            "all_scopes": (EVERYTHING, *ALL_SCOPES),
            "values": values or {"scopes": list(DEFAULT_KEY_SCOPES)},
            "default_rate": rt.settings.email_rate_limit_per_hour,
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/keys/new")
def key_new(request: Request, rt: Rt, person: Admin) -> HTMLResponse:
    return _new_page(request, rt)


def _rate(raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > INT32_MAX:
        raise InvalidInput("rate_limit_per_hour must be a whole number, 0 or more", field="rate")
    return int(text)


def _patterns(raw: str) -> list[str] | None:
    lines = [line.strip() for line in raw.replace(",", "\n").splitlines()]
    found = [line for line in lines if line]
    return found or None


@router.post("/ui/keys")
def key_create(
    request: Request,
    session: Tx,
    rt: Rt,
    person: Admin,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    allowed_recipients: Annotated[str, Form(max_length=20000)] = "",
    review_mode: Annotated[str, Form(max_length=5)] = "",
    own_messages_only: Annotated[str, Form(max_length=5)] = "",
    rate_limit_per_hour: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    values: dict[str, object] = {
        "name": name,
        "scopes": scopes,
        "allowed_recipients": allowed_recipients,
        "review_mode": review_mode == "true",
        "own_messages_only": own_messages_only == "true",
        "rate_limit_per_hour": rate_limit_per_hour,
    }
    try:
        key, plain = tenancy.create_key(
            session,
            tenant_id=person.tenant_id,
            name=name,
            scopes=scopes,
            allowed_recipients=_patterns(allowed_recipients),
            review_mode=review_mode == "true",
            rate_limit_per_hour=_rate(rate_limit_per_hour),
            own_messages_only=own_messages_only == "true",
            # The key service's subset rule: the console holds the person's rights, no more.
            creator=acting.principal(person),
            default_rate_limit=rt.settings.email_rate_limit_per_hour,
        )
    except CarteiroError as exc:
        msgid = FIELD_MESSAGES.get(exc.field or "")
        field = "rate_limit_per_hour" if exc.field == "rate" else exc.field
        return _new_page(
            request,
            rt,
            values=values,
            error=render.text(request, msgid) if msgid else domain_texts.message_of(request, exc),
            field=field,
            status=exc.status,
        )
    acting.record(
        request,
        session,
        person,
        "key_create",
        target_type="api_key",
        target_id=key.id,
        detail={"name": key.name, "scopes": list(key.scopes), "prefix": key.prefix},
    )
    # POST/redirect/GET: a reload of the page that shows the key does not create another.
    shown_at = f"/ui/keys/{key.id}/created"
    response = RedirectResponse(shown_at, status_code=303)
    once.keep(response, rt, once.Once("api_key", key.id, person.user_id, plain), path=shown_at)
    return response


@router.get("/ui/keys/{key_id}/created")
def key_created(request: Request, session: Tx, rt: Rt, person: Admin, key_id: PathId) -> Response:
    """The new key, shown once to the person who created it; afterwards, back to the list."""
    key = tenancy.get_key(session, tenant_id=person.tenant_id, key_id=key_id)
    kept = once.take(request, rt, kind="api_key", target_id=key_id, user_id=person.user_id)
    response: Response
    if key is None or kept is None or kept.value is None:
        response = RedirectResponse("/ui/keys?notice=shown", status_code=303)
    else:
        response = render.page(
            request,
            "key_created.html",
            {"section": "integrations", "tab": "keys", "key": key, "plain": kept.value},
        )
        # The only time the plain key exists outside the caller's hands: never cached.
        response.headers["Cache-Control"] = "no-store"
    once.forget(response, request)
    return response


@router.post("/ui/keys/{key_id}/revoke")
def key_revoke(request: Request, session: Tx, rt: Rt, person: Admin, key_id: PathId) -> Response:
    key = tenancy.revoke_key(
        session,
        principal=acting.principal(person),
        key_id=key_id,
        default_rate_limit=rt.settings.email_rate_limit_per_hour,
    )
    acting.record(
        request,
        session,
        person,
        "key_revoke",
        target_type="api_key",
        target_id=key.id,
        detail={"name": key.name, "prefix": key.prefix},
    )
    return RedirectResponse("/ui/keys?notice=revoked", status_code=303)

"""Logging in and out, the first-run setup link, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from carteiro.api.deps import Rt, Tx
from carteiro.api.router import Router
from carteiro.config import Settings
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.tenancy import audit, people, sessions, setup
from carteiro.tenancy.models import User
from carteiro.tenancy.people import LockedOut, LoginRefused, LoginThrottled
from carteiro.web import domain_texts, i18n, render
from carteiro.web.deps import MaybePerson, Person, client_ip, lifetime, login_policy
from carteiro.web.render import N_
from carteiro.web.security import LANG_COOKIE, SESSION_COOKIE

router = Router(include_in_schema=False)

LANG_COOKIE_SECONDS = 365 * 24 * 3600


def safe_next(value: str | None) -> str:
    """A same-site path to go to after login; anything else goes to the dashboard."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/ui/"
    return value


def secure_cookies(settings: Settings) -> bool:
    return bool(settings.public_url and settings.public_url.startswith("https://"))


def _set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def _start_session(
    request: Request, session: Session, settings: Settings, user: User, *, to: str
) -> Response:
    _row, token = sessions.create(
        session,
        user=user,
        lifetime=lifetime(settings),
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )
    response = RedirectResponse(to, status_code=303)
    _set_session_cookie(response, settings, token)
    return response


@router.get("/")
def root(person: MaybePerson) -> Response:
    return RedirectResponse("/ui/" if person else "/ui/login", status_code=303)


def _login_page(
    request: Request,
    *,
    email: str = "",
    next_url: str = "/ui/",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "login.html",
        {"email": email, "next": next_url, "error": error},
        status=status,
    )


@router.get("/ui/login")
def login_form(request: Request, person: MaybePerson, next: str | None = None) -> Response:
    if person is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/ui/login")
def login(
    request: Request,
    rt: Rt,
    session: Tx,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui/",
) -> Response:
    ip = client_ip(request)
    try:
        user = people.authenticate(
            session, email=email, password=password, ip=ip, policy=login_policy(rt.settings)
        )
    except (LoginRefused, LockedOut, LoginThrottled) as exc:
        # No exception leaves: the failure count and its audit entry must be committed.
        tenant_id = people.tenant_for_failure(session, email=email)
        if tenant_id is not None:
            audit.record(
                session,
                tenant_id=tenant_id,
                user_id=None,
                action="login_failed",
                actor=email.strip().lower()[:320],
                detail={"reason": exc.code},
                ip=ip,
            )
        response = _login_page(
            request,
            email=email,
            next_url=safe_next(next),
            error=_login_error(request, exc),
            status=exc.status,
        )
        if isinstance(exc, LoginThrottled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    audit.record(
        session, tenant_id=user.tenant_id, user_id=user.id, action="login", actor=user.email, ip=ip
    )
    return _start_session(request, session, rt.settings, user, to=safe_next(next))


def _login_error(request: Request, exc: CarteiroError) -> str:
    if isinstance(exc, LockedOut):
        minutes = max(1, round((exc.until - people.now()).total_seconds() / 60))
        return render.text(
            request,
            "Too many wrong passwords: this account is locked for %(minutes)s more minute(s). "
            "An administrator can unlock it with `carteiro users reset-password`.",
            minutes=minutes,
        )
    if isinstance(exc, LoginThrottled):
        return render.text(
            request, "Too many failed logins from this address. Wait a few minutes and try again."
        )
    return render.text(request, "Wrong e-mail or password.")


@router.post("/ui/logout")
def logout(request: Request, session: Tx, person: Person) -> Response:
    sessions.revoke(session, user_id=person.user_id, session_id=person.session_id)
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        action="logout",
        actor=person.email,
        ip=client_ip(request),
    )
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _setup_page(
    request: Request,
    token: str,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "setup.html",
        {"token": token, "values": values or {}, "error": error, "field": field},
        status=status,
    )


@router.get("/setup/{token}")
def setup_form(request: Request, session: Tx, token: str) -> Response:
    if setup.find(session, token=token) is None:
        return render.page(request, "setup_invalid.html", {}, status=404)
    return _setup_page(request, token)


@router.post("/setup/{token}")
def setup_submit(
    request: Request,
    rt: Rt,
    session: Tx,
    token: str,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if setup.find(session, token=token) is None:
        return render.page(request, "setup_invalid.html", {}, status=404)
    values = {"name": name, "email": email}
    if password != password_again:
        error = render.text(request, "The two passwords differ.")
        return _setup_page(
            request, token, values=values, error=error, field="password_again", status=422
        )
    try:
        user = setup.complete(
            session,
            token=token,
            email=email,
            name=name,
            password=password,
            locale=render.locale_of(request),
        )
    except InvalidInput as exc:
        error = field_message(request, exc)
        return _setup_page(request, token, values=values, error=error, field=exc.field, status=422)
    audit.record(
        session,
        tenant_id=user.tenant_id,
        user_id=user.id,
        action="setup",
        actor=user.email,
        target_type="user",
        target_id=user.id,
        ip=client_ip(request),
    )
    return _start_session(request, session, rt.settings, user, to="/ui/")


def field_message(request: Request, exc: CarteiroError) -> str:
    """A service's complaint about a form field, in the page's language where we know it."""
    known = {
        "password": N_("The password needs at least 10 characters."),
        "email": N_("Type a valid e-mail address, such as maria@example.com."),
        "name": N_("Type the person's name."),
        "role": N_("Choose a role you are allowed to give."),
        "timezone": N_("Choose a time zone from the list."),
        "locale": N_("Choose a language from the list."),
        "disabled": N_("You cannot disable yourself."),
    }
    if exc.status == 409:
        return render.text(
            request,
            "This conflicts with what exists: %(detail)s",
            detail=domain_texts.message_of(request, exc),
        )
    msgid = known.get(exc.field or "")
    return render.text(request, msgid) if msgid else domain_texts.message_of(request, exc)


@router.post("/ui/lang")
def switch_language(
    request: Request,
    session: Tx,
    person: MaybePerson,
    locale: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui/",
) -> Response:
    chosen = i18n.normalize(locale)
    if chosen is None:
        raise InvalidInput(f"locale must be one of {', '.join(i18n.LOCALES)}", field="locale")
    if person is not None:
        people.set_locale(
            session, tenant_id=person.tenant_id, user_id=person.user_id, locale=chosen
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, chosen, max_age=LANG_COOKIE_SECONDS, path="/", samesite="lax", httponly=True
    )
    return response

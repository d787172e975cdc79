"""People: the users admin, the audit log, and a person's own sessions and preferences."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.accounts import service as accounts
from carteiro.api.deps import Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.tenancy import access, audit, people, roles, sessions
from carteiro.web import i18n, render
from carteiro.web.deps import Admin, Person, WebPerson, client_ip
from carteiro.web.pages.auth import field_message
from carteiro.web.paging import PAGE_SIZE, page_of

router = Router(include_in_schema=False)

# Notices shown after a redirect (`?notice=…`), so a reload does not post again.
NOTICES = {
    "created": render.N_("The person was created. Give them their e-mail and password."),
    "saved": render.N_("Saved."),
    "revoked": render.N_("The session was ended."),
    "revoked_others": render.N_("Every other session was ended."),
}
TIMEZONES = (
    "America/Sao_Paulo",
    "America/Manaus",
    "America/Belem",
    "America/Fortaleza",
    "America/Recife",
    "America/Cuiaba",
    "America/Porto_Velho",
    "America/Rio_Branco",
    "America/Noronha",
    "UTC",
    "Europe/Lisbon",
    "America/New_York",
)


def _notice(request: Request, code: str | None) -> str | None:
    msgid = NOTICES.get(code or "")
    return render.text(request, msgid) if msgid else None


def _audit(request: Request, session: Tx, person: WebPerson, action: str, **kw: object) -> None:
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        action=action,
        actor=person.email,
        ip=client_ip(request),
        **kw,  # type: ignore[arg-type]  # target_type, target_id, detail
    )


# --- users admin --------------------------------------------------------------------------


@router.get("/ui/admin/users")
def users_list(
    request: Request,
    session: Tx,
    person: Admin,
    offset: Offset = 0,
    notice: str | None = None,
) -> HTMLResponse:
    found, total = people.list_(session, tenant_id=person.tenant_id, limit=PAGE_SIZE, offset=offset)
    counts = {u.id: len(access.granted(session, user_id=u.id)) for u in found}
    return render.page(
        request,
        "users.html",
        {
            "section": "admin",
            "tab": "users",
            "page": page_of(request, found, total=total, limit=PAGE_SIZE, offset=offset),
            "grants": counts,
            "now": people.now(),
            "notice": _notice(request, notice),
        },
    )


def _new_user_page(
    request: Request,
    person: WebPerson,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render.page(
        request,
        "user_new.html",
        {
            "section": "admin",
            "tab": "users",
            "values": values or {"role": "operator"},
            "roles": [r for r in roles.ROLES if roles.at_least(person.role, r)],
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/admin/users/new")
def user_new(request: Request, person: Admin) -> HTMLResponse:
    return _new_user_page(request, person)


@router.post("/ui/admin/users")
def user_create(
    request: Request,
    session: Tx,
    person: Admin,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=16)] = "operator",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    values = {"name": name, "email": email, "role": role}
    try:
        if not roles.at_least(person.role, roles.parse(role)):
            raise InvalidInput("you cannot give a role stronger than your own", field="role")
        user = people.create(
            session,
            tenant_id=person.tenant_id,
            email=email,
            name=name,
            password=password,
            role=role,
        )
    except CarteiroError as exc:
        return _new_user_page(
            request,
            person,
            values=values,
            error=field_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    _audit(
        request,
        session,
        person,
        "user_create",
        target_type="user",
        target_id=user.id,
        detail={"email": user.email, "role": user.role},
    )
    return RedirectResponse(f"/ui/admin/users/{user.id}?notice=created", status_code=303)


def _user_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    user_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=user_id)
    return render.page(
        request,
        "user_edit.html",
        {
            "section": "admin",
            "tab": "users",
            "user": user,
            "roles": [r for r in roles.ROLES if roles.at_least(person.role, r)],
            "can_manage": roles.at_least(person.role, user.role),
            "sees_all": user.role in roles.SEES_ALL,
            "accounts": accounts.list_(session, tenant_id=person.tenant_id),
            "granted": access.granted(session, user_id=user.id),
            "locked": user.locked_until is not None and user.locked_until > people.now(),
            "notice": _notice(request, notice),
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/admin/users/{user_id}")
def user_edit(
    request: Request, session: Tx, person: Admin, user_id: PathId, notice: str | None = None
) -> HTMLResponse:
    return _user_page(request, session, person, user_id, notice=notice)


@router.post("/ui/admin/users/{user_id}/role")
def user_role(
    request: Request,
    session: Tx,
    person: Admin,
    user_id: PathId,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=user_id)
    before = user.role
    try:
        people.set_role(session, user=user, role=role, by_role=person.role)
    except CarteiroError as exc:
        return _user_page(
            request,
            session,
            person,
            user_id,
            error=field_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    _audit(
        request,
        session,
        person,
        "user_update",
        target_type="user",
        target_id=user.id,
        detail={"role": [before, user.role]},
    )
    return RedirectResponse(f"/ui/admin/users/{user.id}?notice=saved", status_code=303)


@router.post("/ui/admin/users/{user_id}/status")
def user_status(
    request: Request,
    session: Tx,
    person: Admin,
    user_id: PathId,
    disabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=user_id)
    want = disabled == "true"
    try:
        people.require_can_manage(by_role=person.role, user=user)
        if want and user.id == person.user_id:
            raise InvalidInput("you cannot disable yourself", field="disabled")
        people.set_disabled(session, user=user, disabled=want)
    except CarteiroError as exc:
        error = field_message(request, exc)
        return _user_page(
            request, session, person, user_id, error=error, field=exc.field, status=exc.status
        )
    if want:
        sessions.revoke_all(session, user_id=user.id)
    _audit(
        request,
        session,
        person,
        "user_update",
        target_type="user",
        target_id=user.id,
        detail={"disabled": want},
    )
    return RedirectResponse(f"/ui/admin/users/{user.id}?notice=saved", status_code=303)


@router.post("/ui/admin/users/{user_id}/access")
def user_access(
    request: Request,
    session: Tx,
    person: Admin,
    user_id: PathId,
    account_id: Annotated[list[PathId], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=user_id)
    people.require_can_manage(by_role=person.role, user=user)
    wanted = set(account_id)
    mine = {a.id for a in accounts.list_(session, tenant_id=person.tenant_id)}
    if wanted - mine:
        raise InvalidInput(f"unknown account(s) {sorted(wanted - mine)}", field="account_id")
    added, removed = access.set_grants(session, user_id=user.id, account_ids=wanted)
    for action, ids in (("access_grant", added), ("access_revoke", removed)):
        for granted_id in sorted(ids):
            _audit(
                request,
                session,
                person,
                action,
                target_type="account",
                target_id=granted_id,
                detail={"user_id": user.id},
            )
    return RedirectResponse(f"/ui/admin/users/{user.id}?notice=saved", status_code=303)


# --- audit log ----------------------------------------------------------------------------


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD)", field=field) from None


@router.get("/ui/admin/audit")
def audit_log(
    request: Request,
    session: Tx,
    person: Admin,
    offset: Offset = 0,
    user: Annotated[str | None, Query(max_length=20)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    if user and not user.isdigit():
        raise InvalidInput("user must be a person's id", field="user")
    tz = i18n.zone(person.timezone)
    start, end = _day(since, "since"), _day(until, "until")
    filters = audit.AuditFilter(
        user_id=int(user) if user else None,
        action=action or None,
        since=datetime.combine(start, time(), tzinfo=tz) if start else None,
        # The whole last day, in the person's time zone.
        until=datetime.combine(end + timedelta(days=1), time(), tzinfo=tz) if end else None,
    )
    entries, total = audit.list_(
        session, tenant_id=person.tenant_id, filter=filters, limit=PAGE_SIZE, offset=offset
    )
    return render.page(
        request,
        "audit.html",
        {
            "section": "admin",
            "tab": "audit",
            "page": page_of(request, entries, total=total, limit=PAGE_SIZE, offset=offset),
            "people": people.list_all(session, tenant_id=person.tenant_id),
            "actions": audit.actions_seen(session, tenant_id=person.tenant_id),
            "filters": {
                "user": user or "",
                "action": action or "",
                "since": since or "",
                "until": until or "",
            },
            "filtered": any((user, action, since, until)),
        },
    )


# --- my sessions and preferences -----------------------------------------------------------


def _me_page(
    request: Request,
    session: Tx,
    person: WebPerson,
    *,
    notice: str | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=person.user_id)
    return render.page(
        request,
        "my_sessions.html",
        {
            "section": "me",
            "user": user,
            "sessions": sessions.list_for(session, user_id=person.user_id),
            "timezones": TIMEZONES,
            "notice": _notice(request, notice),
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/me/sessions")
def my_sessions(
    request: Request, session: Tx, person: Person, notice: str | None = None
) -> HTMLResponse:
    return _me_page(request, session, person, notice=notice)


@router.post("/ui/me/sessions/{session_id}/revoke")
def revoke_session(request: Request, session: Tx, person: Person, session_id: PathId) -> Response:
    sessions.revoke(session, user_id=person.user_id, session_id=session_id)
    _audit(request, session, person, "session_revoke", target_type="session", target_id=session_id)
    if session_id == person.session_id:
        return RedirectResponse("/ui/login", status_code=303)
    return RedirectResponse("/ui/me/sessions?notice=revoked", status_code=303)


@router.post("/ui/me/sessions/revoke-all")
def revoke_all(
    request: Request,
    session: Tx,
    person: Person,
    keep_this: Annotated[str, Form(max_length=5)] = "true",
) -> Response:
    keep = person.session_id if keep_this == "true" else None
    count = sessions.revoke_all(session, user_id=person.user_id, except_id=keep)
    _audit(
        request,
        session,
        person,
        "session_revoke",
        target_type="session",
        detail={"all": True, "count": count},
    )
    if keep is None:
        return RedirectResponse("/ui/login", status_code=303)
    return RedirectResponse("/ui/me/sessions?notice=revoked_others", status_code=303)


@router.post("/ui/me/preferences")
def preferences(
    request: Request,
    session: Tx,
    person: Person,
    name: Annotated[str, Form(max_length=200)] = "",
    locale: Annotated[str, Form(max_length=16)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    user = people.get_or_raise(session, tenant_id=person.tenant_id, user_id=person.user_id)
    try:
        people.update_preferences(session, user=user, name=name, locale=locale, timezone=timezone)
    except CarteiroError as exc:
        return _me_page(
            request,
            session,
            person,
            error=field_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    return RedirectResponse("/ui/me/sessions?notice=saved", status_code=303)

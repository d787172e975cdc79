"""Who is looking at a page: the logged-in person (from their session cookie) and role checks.

A page without a live session redirects (303) to `/ui/login?next=…`; a fragment URL, one with a
path segment named `pane`, `frag` or `fragments`, answers 401 instead (htmx then reloads into
the login page). CSRF is checked for every unsafe request by `security.csrf_protect`, which
`api/app.py` mounts on every console router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from carteiro.api.deps import Rt, Tx
from carteiro.config import Settings
from carteiro.errors import CarteiroError, Forbidden
from carteiro.tenancy import roles, sessions
from carteiro.tenancy.people import LoginPolicy
from carteiro.web.i18n import DEFAULT_TIMEZONE
from carteiro.web.security import SESSION_COOKIE

FRAGMENT_SEGMENTS = frozenset({"pane", "frag", "fragments"})


@dataclass(frozen=True)
class WebPerson:
    user_id: int
    tenant_id: int
    email: str
    name: str
    role: str
    locale: str | None
    timezone: str
    session_id: int

    def at_least(self, role: str) -> bool:
        return roles.at_least(self.role, role)


class LoginRequired(CarteiroError):
    """No live session: pages redirect to the login page, fragments answer 401."""

    status = 401
    code = "login_required"

    def __init__(self, message: str, *, next_url: str, fragment: bool) -> None:
        super().__init__(message)
        self.next_url = next_url
        self.fragment = fragment


def lifetime(settings: Settings) -> sessions.Lifetime:
    return sessions.Lifetime(
        absolute=timedelta(hours=settings.session_hours),
        idle=timedelta(hours=settings.session_idle_hours),
    )


def login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(minutes=settings.login_lockout_minutes),
        ip_max_failures=settings.login_ip_max_failures,
    )


def is_fragment(path: str) -> bool:
    return bool(FRAGMENT_SEGMENTS & set(path.split("/")))


def login_url(next_url: str | None = None) -> str:
    if not next_url or not next_url.startswith("/") or next_url.startswith("//"):
        return "/ui/login"
    return "/ui/login?next=" + quote(next_url, safe="/")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def find_person(request: Request, rt: Rt, session: Tx) -> WebPerson | None:
    """The person of the request's session cookie, or None (also noted on request.state)."""
    found = sessions.resolve(
        session, token=request.cookies.get(SESSION_COOKIE), lifetime=lifetime(rt.settings)
    )
    if found is None:
        request.state.person = None
        return None
    row, user = found
    person = WebPerson(
        user_id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        name=user.name,
        role=user.role,
        locale=user.locale,
        timezone=user.timezone or rt.settings.default_timezone or DEFAULT_TIMEZONE,
        session_id=row.id,
    )
    request.state.person = person
    return person


def current_person(
    request: Request, person: Annotated[WebPerson | None, Depends(find_person)]
) -> WebPerson:
    if person is None:
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(
            "log in to see this page", next_url=url, fragment=is_fragment(request.url.path)
        )
    return person


MaybePerson = Annotated[WebPerson | None, Depends(find_person)]
Person = Annotated[WebPerson, Depends(current_person)]


def require_role(min_role: str) -> Callable[[WebPerson], Awaitable[WebPerson]]:
    """A dependency returning the person if their role is `min_role` or stronger."""
    roles.parse(min_role)

    async def _dep(person: Person) -> WebPerson:
        if not person.at_least(min_role):
            raise Forbidden(f"this page needs the role {min_role} or higher", field="role")
        return person

    return _dep


Operator = Annotated[WebPerson, Depends(require_role("operator"))]
Admin = Annotated[WebPerson, Depends(require_role("admin"))]
Owner = Annotated[WebPerson, Depends(require_role("owner"))]

"""Console security: the CSRF cookie and check, and the headers every page carries (a strict
Content-Security-Policy: no inline script or style)."""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carteiro.errors import CarteiroError

CSRF_COOKIE = "carteiro_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "carteiro_session"
LANG_COOKIE = "carteiro_lang"
# Where the console lives: its pages, the setup link, and `/` which redirects into it.
PREFIXES = ("/ui", "/setup")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class CsrfRefused(CarteiroError):
    status = 403
    code = "csrf"


def is_console(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PREFIXES)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is the same as none
                continue
            if name in jar:
                return jar[name].value
    return None


def cookie_flags(*, secure: bool) -> str:
    return "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


class ConsoleHeaders:
    """Gives every console request a CSRF token (from its cookie, or a new one set on the
    response) and every console response the security headers."""

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        token = _cookie(scope, CSRF_COOKIE)
        fresh = token is None or not 20 <= len(token) <= 100
        if fresh:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = token

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if fresh:
                    value = f"{CSRF_COOKIE}={token}{cookie_flags(secure=self.secure)}"
                    headers.append((b"set-cookie", value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, _send)


def csrf_token(request: Request) -> str:
    token: str = getattr(request.state, "csrf_token", "")
    return token


async def csrf_protect(request: Request) -> None:
    """Refuses an unsafe request whose token (header, or form field) is not its cookie's."""
    if request.method not in UNSAFE:
        return
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        kind = request.headers.get("content-type", "")
        if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfRefused(
            "the form's security token is missing or does not match: reload the page and try again"
        )


async def form_values(request: Request) -> dict[str, str]:
    """A posted form's text fields, as typed, without the CSRF token (to show a refused form
    again with what the person entered)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}

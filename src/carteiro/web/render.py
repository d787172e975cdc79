"""Renders console templates: whole pages, or named blocks of them as fragments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2_fragments import render_block, render_blocks

from carteiro import __version__
from carteiro.web import i18n
from carteiro.web.security import LANG_COOKIE, csrf_token


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (`make messages`)."""
    return message


NAV = (
    # (section, label msgid, url, minimum role)
    ("dashboard", N_("Dashboard"), "/ui/", "viewer"),
    ("inbox", N_("Inbox"), "/ui/inbox", "viewer"),
    ("outbox", N_("Outbox"), "/ui/outbox", "viewer"),
    ("accounts", N_("Accounts"), "/ui/accounts", "viewer"),
    ("leads", N_("Leads"), "/ui/leads", "viewer"),
    ("campaigns", N_("Campaigns"), "/ui/campaigns", "viewer"),
    ("integrations", N_("Integrations"), "/ui/webhooks", "admin"),
    ("admin", N_("Admin"), "/ui/admin/users", "admin"),
)

# Values shown through `_()` in templates: roles, account states, DNS results.
WORDS = (
    N_("owner"),
    N_("admin"),
    N_("operator"),
    N_("viewer"),
    N_("active"),
    N_("paused"),
    N_("disabled"),
    N_("cooling down"),
    N_("ok"),
    N_("warning"),
    N_("error"),
    N_("unchecked"),
)


def locale_of(request: Request) -> str:
    """The request's locale: the person's setting, the language cookie, the browser's."""
    cached = getattr(request.state, "locale", None)
    if isinstance(cached, str):
        return cached
    person = getattr(request.state, "person", None)
    settings = request.app.state.runtime.settings
    locale = i18n.negotiate(
        user_locale=getattr(person, "locale", None),
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
        default=settings.default_locale,
    )
    request.state.locale = locale
    return locale


def timezone_of(request: Request) -> str:
    person = getattr(request.state, "person", None)
    tz = getattr(person, "timezone", None)
    return str(tz or request.app.state.runtime.settings.default_timezone)


def _context(request: Request, context: Mapping[str, object]) -> dict[str, Any]:
    locale = locale_of(request)
    # `_`, `gettext` and `ngettext` come from the locale's environment (newstyle gettext).
    return {
        "request": request,
        "person": getattr(request.state, "person", None),
        "csrf_token": csrf_token(request),
        "locale": locale,
        "html_lang": i18n.HTML_LANG.get(locale, "pt-BR"),
        "timezone": timezone_of(request),
        "nav": NAV,
        "version": __version__,
        **context,
    }


def page(
    request: Request, template: str, context: Mapping[str, object], *, status: int = 200
) -> HTMLResponse:
    """A whole page."""
    ctx = _context(request, context)
    html = i18n.environment(ctx["locale"]).get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status)


def fragment(
    request: Request,
    template: str,
    block: str | list[str],
    context: Mapping[str, object],
    *,
    status: int = 200,
) -> HTMLResponse:
    """One block of a page template, or several (for out-of-band swaps) one after another."""
    ctx = _context(request, context)
    env = i18n.environment(ctx["locale"])
    if isinstance(block, str):
        html = render_block(env, template, block, ctx)
    else:
        html = render_blocks(env, template, block, ctx)
    return HTMLResponse(html, status_code=status)


def text(request: Request, message: str, **values: Any) -> str:
    """A message in the request's locale, for texts built in Python."""
    return i18n.gettext(locale_of(request), message, **values)

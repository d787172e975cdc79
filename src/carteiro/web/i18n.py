"""Locales of the console: Babel catalogues, one Jinja environment per locale, formatting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TEMPLATES = HERE / "templates"
LOCALES = ("pt_BR", "en")
DEFAULT_LOCALE = "pt_BR"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
# <html lang> values.
HTML_LANG = {"pt_BR": "pt-BR", "en": "en"}
LANGUAGE_NAMES = {"pt_BR": "Português (Brasil)", "en": "English"}


def normalize(value: str | None) -> str | None:
    """A supported locale for a tag such as 'pt-BR', 'pt', 'en-US'; None if none fits."""
    if not value:
        return None
    tag = value.strip().replace("-", "_")
    if tag in LOCALES:
        return tag
    language = tag.split("_", 1)[0].lower()
    for locale in LOCALES:
        if locale.split("_", 1)[0].lower() == language:
            return locale
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale in an Accept-Language header."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag))
    for _, _, tag in sorted(weighted):
        found = normalize(tag)
        if found:
            return found
    return None


def negotiate(
    *, user_locale: str | None, cookie: str | None, accept_language: str | None, default: str
) -> str:
    """The person's setting, else the language switch's cookie, else the browser's language."""
    return (
        normalize(user_locale)
        or normalize(cookie)
        or from_accept_language(accept_language)
        or normalize(default)
        or DEFAULT_LOCALE
    )


def zone(name: str | None, default: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    for candidate in (name, default, DEFAULT_TIMEZONE):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    # Without a compiled catalogue (English msgids) this is the identity.
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


@pass_context
def _datetime(ctx: Context, value: datetime | None, format: str = "short") -> str:
    if value is None:
        return "—"
    tz = zone(ctx.get("timezone"))
    return format_datetime(
        value, format=format, tzinfo=tz, locale=ctx.get("locale", DEFAULT_LOCALE)
    )


@pass_context
def _number(ctx: Context, value: float | int | None) -> str:
    if value is None:
        return "—"
    return format_decimal(value, locale=ctx.get("locale", DEFAULT_LOCALE))


@pass_context
def _percent(ctx: Context, value: float | None) -> str:
    if value is None:
        return "—"
    return format_percent(value, format="#,##0.#%", locale=ctx.get("locale", DEFAULT_LOCALE))


@pass_context
def _duration(ctx: Context, seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return format_timedelta(
        timedelta(seconds=seconds), threshold=1.5, locale=ctx.get("locale", DEFAULT_LOCALE)
    )


_CODE = re.compile(r"`([^`]+)`")


def _codes(value: object) -> Markup:
    """Text with `commands` in backticks shown as <code> (escaped first)."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(value))))


def hour_label(value: datetime, *, locale: str, timezone: str | None) -> str:
    """A time of day such as 14:00 in the person's zone (chart labels)."""
    return format_time(value, format="HH:mm", tzinfo=zone(timezone), locale=locale)


def _make_env(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
    env.filters["datetime"] = _datetime
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    env.filters["duration"] = _duration
    env.filters["codes"] = _codes
    env.globals["LOCALES"] = LOCALES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    return env


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    """The Jinja environment of a locale (built once: never changed per request)."""
    return _make_env(locale if locale in LOCALES else DEFAULT_LOCALE)


def gettext(locale: str, message: str, **values: Any) -> str:
    """A message translated outside templates (flash texts, error pages)."""
    text = translations(locale).gettext(message)
    return text % values if values else text


def ngettext(locale: str, singular: str, plural: str, n: int, **values: Mapping[str, Any]) -> str:
    text = translations(locale).ngettext(singular, plural, n)
    return text % {"num": n, **values}

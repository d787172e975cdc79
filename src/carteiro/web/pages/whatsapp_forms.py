"""The WhatsApp forms' fields: parsed into the service's shapes, errors named by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from carteiro.errors import CarteiroError, InvalidInput
from carteiro.web import domain_texts, render
from carteiro.whatsapp.models import WhatsAppNumber, WhatsAppTemplate

SECRETS = ("token", "app_secret", "verify_token")
# What to say when a field is refused, in the page's language (the service's English
# message is shown for fields not listed).
HINTS = {
    "name": render.N_("Give a name of up to 64 characters."),
    "phone_number_id": render.N_(
        "Give the phone number ID from Meta's WhatsApp Manager (or the Evolution instance)."
    ),
    "token": render.N_("Give the access token (or the Evolution apikey)."),
    "rate_per_second": render.N_("Type a number of messages per second between 0 and 1000."),
    "pair_interval_seconds": render.N_("Type a number of seconds between 0 and 3600."),
    "base_url": render.N_("Give the gateway's address, such as https://evolution.example.com."),
    "app_secret": render.N_(
        "A Cloud API number needs the app secret (it checks the webhooks' signatures)."
    ),
    "verify_token": render.N_(
        "A Cloud API number needs a verify token (the one you type in Meta's webhook set-up)."
    ),
    "provider": render.N_(
        "The Evolution gateway is off on this server: numbers driven this way are often "
        "banned. An administrator can turn it on after reading the README."
    ),
    "to": render.N_("Give the phone number with country and area code, e.g. +5511987654321."),
    "template": render.N_("Choose a registered template."),
    "number": render.N_("Add a WhatsApp number first."),
}
TEMPLATE_HINTS = {
    "name": render.N_(
        "Use the name approved by Meta: lowercase letters, digits and _ (up to 128)."
    ),
    "language": render.N_("Give a language code such as pt_BR."),
    "params": render.N_(
        "List the variables in body order, separated by commas: letters, digits and _ "
        "(end one with ? if it is optional)."
    ),
    "body": render.N_("The body has at most 1,024 characters."),
    "category": render.N_("Choose a category from the list."),
    "param_format": render.N_("Choose named or positional variables."),
}


@dataclass(frozen=True)
class Problem:
    message: str
    field: str | None


def problem(
    request: Request, exc: ValidationError | CarteiroError, *, hints: dict[str, str] = HINTS
) -> Problem:
    """The message and the form field of the first thing refused."""
    if isinstance(exc, CarteiroError):
        field = (exc.field or "").split(".")[0] or None
        if exc.status == 409 and field == "name":
            return Problem(render.text(request, "This name is already in use."), field)
        if exc.status in (400, 422) and field in hints:
            return Problem(render.text(request, hints[field]), field)
        return Problem(domain_texts.message_of(request, exc), field)
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else None
    msgid = hints.get(field or "")
    message = render.text(request, msgid) if msgid else f"{field}: {first['msg']}"
    return Problem(message, field)


def _number(values: dict[str, str], name: str) -> float | None:
    raw = values.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: type a number", field=name) from None


def parse_number(values: dict[str, str], *, new: bool) -> dict[str, Any]:
    """The service's shape from the number form: a blank secret means "keep" on an edit."""
    data: dict[str, Any] = {
        "name": values.get("name", "").strip(),
        "phone_number_id": values.get("phone_number_id", "").strip(),
        "display_phone": values.get("display_phone", "").strip() or None,
        "base_url": values.get("base_url", "").strip() or None,
        "fallback_template": values.get("fallback_template", "").strip() or None,
    }
    for name in ("rate_per_second", "pair_interval_seconds"):
        value = _number(values, name)
        if value is not None:
            data[name] = value
    for name in SECRETS:
        secret = values.get(name, "").strip()
        if secret or new:
            data[name] = secret or None
    if new:
        data["provider"] = values.get("provider") or "cloud"
        data["token"] = data["token"] or ""
    return data


def number_values(number: WhatsAppNumber) -> dict[str, str]:
    """The edit form's values (never a secret)."""
    return {
        "name": number.name,
        "provider": number.provider,
        "phone_number_id": number.phone_number_id,
        "display_phone": number.display_phone or "",
        "base_url": number.base_url or "",
        "rate_per_second": f"{number.rate_per_second:g}",
        "pair_interval_seconds": f"{number.pair_interval_seconds:g}",
        "fallback_template": number.fallback_template or "",
    }


def parse_params(text: str) -> list[dict[str, Any]]:
    """`nome, valor, desconto?` → the registry's parameter schema (a final ? = optional)."""
    params = []
    for part in text.replace("\n", ",").split(","):
        name = part.strip()
        if not name:
            continue
        optional = name.endswith("?")
        params.append({"name": name.rstrip("?").strip(), "required": not optional})
    return params


def parse_template(values: dict[str, str]) -> dict[str, Any]:
    return {
        "name": values.get("name", "").strip(),
        "language": values.get("language", "").strip() or "pt_BR",
        "category": values.get("category") or "UTILITY",
        "param_format": values.get("param_format") or "named",
        "params": parse_params(values.get("params", "")),
        "body": values.get("body", "").strip() or None,
    }


def params_text(params: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p['name']}{'' if p.get('required', True) else '?'}" for p in params)


def template_values(t: WhatsAppTemplate) -> dict[str, str]:
    return {
        "name": t.name,
        "language": t.language,
        "category": t.category,
        "param_format": t.param_format,
        "params": params_text(list(t.params)),
        "body": t.body or "",
    }

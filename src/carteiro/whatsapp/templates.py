"""The local template registry's checks: variables must match a template before it is sent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carteiro.errors import InvalidInput
from carteiro.whatsapp.models import WhatsAppTemplate
from carteiro.whatsapp.provider import TemplateMessage

_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
MAX_PARAM = 1024


def build(
    template: WhatsAppTemplate, variables: Mapping[str, Any], *, field: str
) -> TemplateMessage:
    """The parameters in body order; refuses missing, unknown or oversized variables (what
    Meta would answer with 132000/132012 after the fact)."""
    declared = [str(p["name"]) for p in template.params]
    unknown = sorted(set(variables) - set(declared))
    if unknown:
        raise InvalidInput(
            f"template {template.name} has no variable {', '.join(unknown)} "
            f"(it declares: {', '.join(declared) or 'none'})",
            field=f"{field}.{unknown[0]}",
        )
    params: list[tuple[str, str]] = []
    for p in template.params:
        name = str(p["name"])
        value = variables.get(name)
        if value is None or str(value).strip() == "":
            if p.get("required", True):
                raise InvalidInput(
                    f"template {template.name} needs variable {name}", field=f"{field}.{name}"
                )
            value = "-"
        text = str(value)
        if len(text) > MAX_PARAM or "\n" in text or "\t" in text:
            raise InvalidInput(
                f"{name}: at most {MAX_PARAM} characters, without line breaks or tabs "
                "(Meta refuses them in template parameters)",
                field=f"{field}.{name}",
            )
        params.append((name, text))
    return TemplateMessage(
        name=template.name,
        language=template.language,
        params=params,
        named=template.param_format == "named",
    )


def render(template: WhatsAppTemplate, message: TemplateMessage) -> str:
    """The body with its parameters filled in (for gateways without templates, and previews)."""
    values = dict(message.params)
    positional = [v for _, v in message.params]

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.isdigit() and 0 < int(key) <= len(positional):
            return positional[int(key) - 1]
        return values.get(key, m.group(0))

    body = template.body or " ".join(positional)
    return _PLACEHOLDER.sub(fill, body)

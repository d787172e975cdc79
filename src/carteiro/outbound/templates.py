"""User-supplied templates, rendered in Jinja2's sandbox."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from carteiro.errors import InvalidInput

_text = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_html = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


def render_inline(source: str, variables: dict[str, Any], *, field: str, html: bool = False) -> str:
    """Renders `{{name}}`-style text; a missing variable or a syntax error names the field.
    In HTML, variables are escaped so a value cannot inject markup."""
    try:
        return (_html if html else _text).from_string(source).render(**variables)
    except TemplateError as exc:
        raise InvalidInput(f"{field}: template error: {exc.message or exc}", field=field) from None

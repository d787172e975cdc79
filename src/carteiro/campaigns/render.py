"""One recipient's message from its variant's compiled templates: subject, HTML and text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carteiro.mail.templates import render_inline


@dataclass(frozen=True)
class Recipient:
    """Who a message is for, as the render and the tracking seam see it."""

    campaign_id: int
    recipient_id: int | None
    address: str
    variant_id: int


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def rewrite_html(html: str, *, recipient: Recipient) -> str:
    """THE tracking seam: the final HTML of one recipient's message, before it is enqueued
    (and so before DKIM signs it at send time). Link rewriting and the open pixel replace
    this body; today it returns the HTML unchanged."""
    return html


def render(
    *,
    subject: str,
    html: str,
    text: str,
    variables: dict[str, Any],
    recipient: Recipient,
) -> Rendered:
    """Personalises the variant's compiled templates for one recipient (sandboxed Jinja)."""
    return Rendered(
        subject=render_inline(subject, variables, field="subject"),
        html=rewrite_html(
            render_inline(html, variables, field="content", html=True), recipient=recipient
        ),
        text=render_inline(text, variables, field="text"),
    )

"""One recipient's message from its variant's compiled templates: subject, HTML and text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carteiro.mail.templates import MAX_OUTPUT_CHARS, render_inline
from carteiro.tracking import plan
from carteiro.tracking.links import Scan


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
    # Where the links of `html` are (`links.scan_html(html)`), when the template's plan
    # found them; None: the tracking rewrite scans the message.
    html_links: Scan | None = None


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
    rendered_subject = render_inline(subject, variables, field="subject")
    body, links = _html(html, variables)
    final = rewrite_html(body, recipient=recipient)
    return Rendered(
        subject=rendered_subject,
        html=final,
        text=render_inline(text, variables, field="text"),
        # The links were found in `body`: a seam that changes it has them found again.
        html_links=links if final is body else None,
    )


def _html(source: str, variables: dict[str, Any]) -> tuple[str, Scan | None]:
    """The HTML and, through the template's plan, where its links are: the variant's links
    are found once, not parsed out of every recipient's message."""
    marked = plan.plan(source)
    if marked is not None:
        out = render_inline(
            marked.source,
            variables,
            field="content",
            html=True,
            max_chars=MAX_OUTPUT_CHARS + marked.extra,
        )
        located = plan.locate(out, marked)
        if located is not None:
            return located
    return render_inline(source, variables, field="content", html=True), None

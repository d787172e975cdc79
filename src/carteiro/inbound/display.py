"""A message's HTML made ready for a sandboxed frame: sanitised, remote images held back."""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping
from dataclasses import dataclass

import nh3

REMOTE = ("http://", "https://", "//")
# The frame's own policy: nothing runs, nothing loads but what the page says here.
_POLICY = (
    "default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
BLOCKED_CSP = _POLICY.format(images="data: 'self'")
OPEN_CSP = _POLICY.format(images="data: 'self' https: http:")
_FRAME_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:15px;"
    "line-height:1.5;color:#212529;margin:0;padding:8px;word-wrap:break-word}"
    "img{max-width:100%;height:auto}pre{white-space:pre-wrap}"
    "blockquote{border-left:3px solid #ccc;margin:0 0 0 4px;padding-left:8px;color:#555}"
)


@dataclass(frozen=True)
class FrameDocument:
    html: str
    blocked_images: int
    csp: str


def _is_remote(value: str) -> bool:
    return value.strip().lower().startswith(REMOTE)


def frame_document(
    body_html: str | None,
    text: str,
    *,
    remote_images: bool,
    inline: Mapping[str, str] | None = None,
    lang: str = "pt-BR",
) -> FrameDocument:
    """A whole HTML document for the frame; `inline` maps a Content-ID to its download URL."""
    inline = {k.strip("<>").lower(): v for k, v in (inline or {}).items()}
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute in ("src", "srcset", "background") and tag in ("img", "table", "td"):
            if value.strip().lower().startswith("cid:"):
                return inline.get(value.strip()[4:].strip("<>").lower())
            if _is_remote(value) and not remote_images:
                blocked += 1
                return None
        return value

    if body_html and body_html.strip():
        clean = nh3.clean(
            body_html,
            attribute_filter=keep,
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto", "cid", "tel"},
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    else:
        clean = f"<pre>{html_lib.escape(text)}</pre>"
    document = (
        f'<!doctype html><html lang="{html_lib.escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="referrer" content="no-referrer"><style>{_FRAME_STYLE}</style></head>'
        f"<body>{clean}</body></html>"
    )
    return FrameDocument(document, blocked, OPEN_CSP if remote_images else BLOCKED_CSP)

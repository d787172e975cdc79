"""A tracked body: links pointing at the tracker, a hidden trap link and the open pixel."""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass

from carteiro.config import Settings
from carteiro.tracking import links

TOKEN_BYTES = 16
PIXEL = "o.gif"


def new_token() -> str:
    """128 random bits, URL-safe: a token names one message and reveals nothing of others."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def public_base(settings: Settings) -> str:
    return str(settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def link_url(base: str, token: str, index: int | str) -> str:
    return f"{base}/t/{token}/{index}"


def pixel_url(base: str, token: str) -> str:
    return f"{base}/t/{token}/{PIXEL}"


def _keeper(base: str) -> links.Keep:
    """Links left as written: unsubscribe links (ours under /u/, anyone's by name) and links
    already pointing at the tracker."""
    ours = (f"{base}/u/", f"{base}/t/")

    def keep(url: str) -> bool:
        return url.startswith(ours) or "unsubscribe" in url.lower()

    return keep


@dataclass(frozen=True)
class Tracked:
    """The rewritten parts and what `register` stores for them."""

    token: str
    html: str | None
    text: str | None
    urls: list[str]
    trap: int


def rewrite(
    settings: Settings,
    *,
    html_body: str | None,
    text_body: str | None,
    token: str | None = None,
    opens: bool = True,
    clicks: bool = True,
    scan: links.Scan | None = None,
) -> Tracked:
    """Rewrites the links of both parts (one index per distinct URL, shared by the parts) and
    puts the trap link and the open pixel right after `<body>`.

    `token` may be a template placeholder when the body is compiled once for many recipients
    (each recipient's real token is then registered with the same `urls` and `trap`)."""
    token = token or new_token()
    base = public_base(settings)
    found = links.Links()
    keep = _keeper(base)

    def href_for(index: int) -> str:
        return link_url(base, token, index)

    new_html, body_end = html_body, 0
    if html_body is not None and clicks:
        new_html, body_end = links.rewrite_html(
            html_body, found, href_for=href_for, keep=keep, scan=scan
        )
    new_text = text_body
    if text_body is not None and clicks:
        new_text = links.rewrite_text(text_body, found, href_for=href_for, keep=keep)
    trap = len(found.urls)
    if new_html is not None:
        top = ""
        if clicks:
            top += (
                f'<a href="{html.escape(link_url(base, token, trap))}" style="display:none" '
                'aria-hidden="true" tabindex="-1"></a>'
            )
        if opens:
            top += (
                f'<img src="{html.escape(pixel_url(base, token))}" width="1" height="1" alt="" '
                'style="display:block;width:1px;height:1px;border:0">'
            )
        if top:
            new_html = links.insert_at_top(new_html, top, body_end)
    return Tracked(token, new_html, new_text, found.urls, trap)

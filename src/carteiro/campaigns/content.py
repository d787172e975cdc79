"""A variant's content compiled once: layout + HTML/Markdown/text/MJML, a preheader, a text part."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from carteiro.errors import InvalidInput

SLOT = re.compile(r"\{\{\s*content\s*\}\}")
_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)
_BLOCKS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table", "hr"}
_SKIP = {"style", "script", "head", "title"}
_markdown = MarkdownIt("commonmark", {"html": True})


@dataclass(frozen=True)
class Compiled:
    """Still Jinja templates: personalisation happens per recipient, compilation never does."""

    html: str
    text: str
    hash: str


def check_layout(body: str, *, field: str = "body") -> None:
    found = len(SLOT.findall(body))
    if found != 1:
        raise InvalidInput(
            f"a layout has exactly one {{{{ content }}}} slot; this one has {found}", field=field
        )


def mjml_to_html(source: str, *, field: str) -> str:
    try:
        from mjml import mjml2html  # the optional extra carteiro[mjml]
    except ImportError:
        raise InvalidInput(
            "MJML content needs the optional extra: pip install 'carteiro[mjml]'", field=field
        ) from None
    try:
        return str(mjml2html(source.replace("\r\n", "\n")))
    except Exception as exc:  # MRML raises its own error types
        raise InvalidInput(f"MJML does not compile: {exc}", field=field) from None


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join(
        "<p>" + html_lib.escape(p, quote=False).replace("\n", "<br>\n") + "</p>\n"
        for p in paragraphs
    )


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip:
            self._skip -= 1
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.parts.append(f" ({href})")
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """A readable plain-text part from HTML: blocks become lines, links keep their address."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _with_preheader(markup: str, preheader: str | None) -> str:
    if not preheader:
        return markup
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{html_lib.escape(preheader, quote=False)}</div>"
    )
    match = _BODY_OPEN.search(markup)
    if match is None:
        return hidden + markup
    return markup[: match.end()] + hidden + markup[match.end() :]


def compile_variant(
    *,
    format: str,
    content: str,
    text: str | None,
    preheader: str | None,
    layout: str | None,
    layout_format: str | None,
    field: str = "content",
) -> Compiled:
    """Layout + body into one HTML Jinja template, and its text part (given or derived)."""
    if format == "mjml":
        if layout is not None and layout_format == "mjml":
            # MJML cannot compile a fragment: the layout wraps the content first.
            content = SLOT.sub(lambda _: content, layout, count=1)
            layout = None
        body = mjml_to_html(content, field=field)
    elif format == "markdown":
        body = _markdown.render(content)
    elif format == "text":
        body = _text_to_html(content)
    elif format == "html":
        body = content
    else:
        raise InvalidInput(f"unknown format '{format}'", field="format")
    if layout is not None:
        if layout_format == "mjml":
            raise InvalidInput("an MJML layout wraps MJML content only", field="template_id")
        body = SLOT.sub(lambda _: body, layout, count=1)
    body = _with_preheader(body, preheader)
    plain = text if text else (content if format == "text" else html_to_text(body))
    digest = hashlib.sha256(f"{body}\0{plain}".encode()).hexdigest()
    return Compiled(html=body, text=plain, hash=digest)

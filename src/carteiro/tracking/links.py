"""Link rewriting in HTML and plain text: only the href values change, every other byte stays."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Attributes inside one start tag the parser already found (same grammar as html.parser's own
# tolerant attribute pattern): name, then an optional quoted or bare value.
ATTR = re.compile(
    r"""(?P<name>[^\s/>=][^\s/>=]*)(?:\s*=\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^'"\s>][^\s>]*)))?""",
    re.S,
)
TAG_NAME = re.compile(r"<[^\s/>]+")
# Plain text: URLs end at whitespace or at the brackets and quotes that usually enclose them;
# trailing punctuation belongs to the sentence.
_TEXT_URL = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""", re.I)
_TRAILING = ".,;:!?"
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)
_LINK_TAGS = ("a", "area")


def trackable(url: str) -> bool:
    """Absolute http(s) links only: no mailto:, tel:, #anchors, relative or template links."""
    lowered = url.strip().lower()
    if not lowered.startswith(("http://", "https://")):
        return False
    return "{{" not in url and "{%" not in url


@dataclass
class Links:
    """The distinct URLs of a body, in order of first appearance; an index names each."""

    urls: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, url: str) -> int:
        found = self._index.get(url)
        if found is None:
            found = self._index[url] = len(self.urls)
            self.urls.append(url)
        return found


Keep = Callable[[str], bool]
HrefFor = Callable[[int], str]


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class Scanner(HTMLParser):
    """Finds the href values of <a>/<area> start tags and where they sit in the source."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        starts = [0]
        for match in re.finditer("\n", source):
            starts.append(match.end())
        self._line_starts = starts
        self.found: list[tuple[int, int, str]] = []  # (value start, value end, unescaped href)
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        start = self._offset()
        if tag == "body" and self.body_end is None:
            self.body_end = start + len(raw)
            return
        if tag not in _LINK_TAGS:
            return
        name_match = TAG_NAME.match(raw)
        position = name_match.end() if name_match else 0
        for match in ATTR.finditer(raw, position):
            if match.group("name").lower() != "href":
                continue
            group = next((g for g in ("dq", "sq", "bare") if match.group(g) is not None), None)
            if group is None:
                return
            value = match.group(group)
            self.found.append(
                (start + match.start(group), start + match.end(group), html.unescape(value))
            )
            return  # the first href wins, as in browsers

    handle_startendtag = handle_starttag


@dataclass(frozen=True)
class Rewritten:
    """A body with its links pointing at the tracker, and the URLs they stand for."""

    html: str | None
    text: str | None
    urls: list[str]


@dataclass(frozen=True)
class Scan:
    """Where the links of one HTML body are: each href value's span and its unescaped URL, and
    the offset just after `<body …>` (None without one)."""

    found: tuple[tuple[int, int, str], ...]
    body_end: int | None


def scan_html(source: str) -> Scan:
    """The links `html.parser` finds in `source`: the one definition of where links are."""
    scanner = Scanner(source)
    scanner.feed(source)
    scanner.close()
    return Scan(tuple(scanner.found), scanner.body_end)


def rewrite_html(
    source: str, links: Links, *, href_for: HrefFor, keep: Keep, scan: Scan | None = None
) -> tuple[str, int]:
    """`source` with each trackable href replaced by `href_for(index)`; links `keep` accepts
    stay as written. Returns the new HTML and the offset just after `<body …>` (0 if none).

    `scan` is `scan_html(source)` when the caller already knows it (a campaign finds its
    links once per template: `tracking.plan`)."""
    found = scan or scan_html(source)
    edits = []
    for start, end, url in found.found:
        if not trackable(url) or keep(url):
            continue
        edits.append(_Edit(start, end, html.escape(href_for(links.add(url)), quote=True)))
    out = _apply(source, edits)
    body_end = found.body_end
    if body_end is not None:
        # The edits before the body tag (links in <head> are rare) move its end.
        body_end += sum(len(e.text) - (e.end - e.start) for e in edits if e.end <= body_end)
    return out, body_end or 0


def _apply(source: str, edits: list[_Edit]) -> str:
    parts: list[str] = []
    position = 0
    for edit in edits:
        parts.append(source[position : edit.start])
        parts.append(edit.text)
        position = edit.end
    parts.append(source[position:])
    return "".join(parts)


def rewrite_text(source: str, links: Links, *, href_for: HrefFor, keep: Keep) -> str:
    """The plain-text part with its bare http(s) URLs replaced the same way."""

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        if not trackable(url) or keep(url):
            return match.group(0)
        return href_for(links.add(url)) + tail

    return _TEXT_URL.sub(replace, source)


def insert_at_top(source: str, fragment: str, body_end: int) -> str:
    """`fragment` right after `<body …>`, or first in the document when there is no body."""
    if body_end == 0:
        found = _BODY_OPEN.search(source)
        if found is None:
            return fragment + source
        body_end = found.end()
    return source[:body_end] + fragment + source[body_end:]

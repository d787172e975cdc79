"""Forgiving decoders for what real mail contains: wrong charsets, encoded words, raw 8-bit."""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser

import nh3

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_MSG_ID = re.compile(r"<([^<>\s]{1,250})>")
# What separates bare addresses; splitting on it is linear, unlike searching for `x+@x+`,
# which backtracks over every start position of a long run without `@` (quadratic).
_ADDRESS_SEPARATORS = re.compile(r"[\s<>\"',;:()\[\]]+")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Labels that mean "no idea" or that mailers use for plain ASCII that is really UTF-8.
_UNKNOWN = {"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "none", "8bit"}
_ALIASES = {
    "utf8": "utf-8",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}
MAX_HEADER_CHARS = 2000
# Address headers are cut to this length before parsing, so a hostile header (megabytes
# without an `@`) costs bounded work; ordinary lists of 200 addresses (all the inbox keeps)
# fit with room to spare.
MAX_ADDRESS_HEADER_CHARS = 32_000
MAX_NAME = 256
MAX_ADDRESS = 320


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _UNKNOWN:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Only real text encodings: "base64", "rot13", "zlib" are codecs too.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes under a declared charset that may be wrong, unknown or missing."""
    tried = []
    codec = _codec(charset)
    for name in (codec, "utf-8", "cp1252"):
        if name is None or name in tried:
            continue
        tried.append(name)
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    # latin-1 maps every byte, so this never fails.
    return data.decode("latin-1")


def _unescape_raw(value: str) -> str:
    """Headers parsed from bytes carry 8-bit octets as surrogates; decode them for real."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def clean_text(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    """One line: control characters and runs of white space become one space."""
    value = _CONTROL.sub(" ", value)
    return _SPACES.sub(" ", value).strip()[:limit]


def decode_header_value(value: object, limit: int = MAX_HEADER_CHARS) -> str:
    """A header's text with RFC 2047 encoded words decoded; never raises."""
    if value is None:
        return ""
    text = _unescape_raw(str(value))
    if "=?" not in text:
        return clean_text(text, limit)
    try:
        parts = decode_header(text)
    except Exception:
        return clean_text(text, limit)
    out: list[str] = []
    for chunk, charset in parts:
        out.append(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset))
    return clean_text("".join(out), limit)


def message_ids(value: object, limit: int = 100) -> list[str]:
    """The `<id>` tokens of a Message-ID, In-Reply-To or References header, in order."""
    if not value:
        return []
    found = [f"<{m}>" for m in _MSG_ID.findall(_unescape_raw(str(value)))]
    return [i for i in dict.fromkeys(found) if i.isascii() and len(i) <= 255][-limit:]


def _valid_address(addr: str) -> str | None:
    addr = addr.strip().strip("<>").strip().lower()
    if not addr or len(addr) > MAX_ADDRESS or addr.count("@") != 1:
        return None
    local, domain = addr.split("@")
    if not local or not domain or _CONTROL.search(addr) or " " in addr:
        return None
    return addr


def addresses(value: object) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; unparseable entries are dropped."""
    if not value:
        return []
    raw = _unescape_raw(str(value)[:MAX_ADDRESS_HEADER_CHARS])
    raw = _CONTROL.sub(" ", raw)
    try:
        pairs = getaddresses([raw])
    except Exception:
        pairs = []
    out: list[tuple[str, str]] = []
    for name, addr in pairs:
        valid = _valid_address(addr)
        if valid:
            out.append((decode_header_value(name, MAX_NAME), valid))
    if not out:
        # Mailers write things getaddresses refuses; a bare address is still worth keeping.
        tokens = _ADDRESS_SEPARATORS.split(_ENCODED_WORD.sub(" ", raw))
        found = (t for t in tokens if "@" in t.strip("@"))
        out = [("", v) for v in (_valid_address(a) for a in found) if v]
    return list({addr: (name, addr) for name, addr in out}.values())


def parse_date(value: object) -> datetime | None:
    """An aware UTC datetime from a Date header, or None when it makes no sense."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(clean_text(_unescape_raw(str(value))))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when = when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return when if 1970 <= when.year <= 2200 else None


def sanitize_html(html: str) -> str:
    """HTML safe to show: no scripts, styles, handlers or dangerous URLs; links open safely."""
    try:
        return nh3.clean(
            html,
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto", "cid", "tel"},
        )
    except Exception:
        return ""


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML (for snippets and for messages without a text part)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:
        return clean_text(unescape(re.sub(r"<[^>]*>", " ", html)), len(html))
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(extractor.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def snippet(text: str, limit: int = 200) -> str:
    """The first words of a body, without quoted lines."""
    lines = [line for line in text.splitlines()[:200] if not line.lstrip().startswith(">")]
    return clean_text(" ".join(lines), limit)

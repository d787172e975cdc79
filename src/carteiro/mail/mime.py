"""A message's MIME structure written straight to bytes, exactly as the email package writes it."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from email import quoprimime
from email.contentmanager import (  # type: ignore[attr-defined]  # private: not in typeshed
    _encode_base64,
    _encode_text,
)
from email.generator import BytesGenerator
from email.message import (  # type: ignore[attr-defined]  # private: not in typeshed
    MIMEPart,
    _formatparam,
)
from email.policy import SMTP
from functools import lru_cache

from carteiro.mail.attachments import Attachment

__all__ = ["CalendarPart", "Content", "render", "render_stdlib"]

# Building a MIMEPart tree and flattening it costs about a millisecond per message, mostly in
# parsing and refolding the same Content-* headers over and over. Here every header is still
# folded by the email package, but once per distinct value, and the parts are joined as
# `email.generator.BytesGenerator` joins them. tests/outbound/test_mime.py compares the two
# byte for byte over many varied messages, on whatever Python runs the tests.
#
# `_encode_text`, `_encode_base64`, `_formatparam` and the generator's boundary methods are
# private to the email package; they are called rather than copied so that payloads,
# parameters and boundaries are its own by construction.
_CRLF = b"\r\n"
# The SMTP policy's line length (78); typed optional because other policies may have none.
_MAX_LINE_LENGTH = SMTP.max_line_length or 78
# The generator's boundaries: 15 '=', a zero-padded random number below sys.maxsize, '=='.
_TOKEN_WIDTH = len(repr(sys.maxsize - 1))
_SAMPLE_BOUNDARY = "=" * 15 + "0" * _TOKEN_WIDTH + "=="
# The characters quoted-printable escapes in a body (line breaks aside), and their escapes.
_QP_ESCAPES = {chr(c): quoprimime.quote(chr(c)) for c in range(256) if quoprimime.body_check(c)}
_QP_ESCAPE = re.compile("([" + re.escape("".join(sorted(set(_QP_ESCAPES) - {"\r", "\n"}))) + "])")


@lru_cache(maxsize=512)
def _header(name: str, value: str) -> bytes:
    """One header as the email package stores and folds it; the same few values repeat."""
    folded: str = SMTP.header_factory(name, value).fold(policy=SMTP)
    return folded.encode("ascii")


def _multipart_header(subtype: str, boundary: str) -> bytes:
    value = f'multipart/{subtype}; boundary="{{}}"'
    if len(boundary) != len(_SAMPLE_BOUNDARY):
        return _header("Content-Type", value.format(boundary))
    # Folding depends on lengths only, so the header is folded once with a sample boundary.
    sample = _header("Content-Type", value.format(_SAMPLE_BOUNDARY))
    return sample.replace(_SAMPLE_BOUNDARY.encode("ascii"), boundary.encode("ascii"))


def _boundary(text: bytes) -> str:
    """The generator's `_make_boundary`: the same random draw, the same collision check."""
    boundary: str = BytesGenerator._make_boundary()  # type: ignore[attr-defined]  # private: not in typeshed
    if ("--" + boundary).encode("ascii") not in text:
        return boundary  # the generator's line-anchored check cannot match either
    # With CRLF line ends this anchored check never matches; it is kept as the generator has it.
    base, counter = boundary, 0
    compile_re = BytesGenerator._compile_re  # type: ignore[attr-defined]  # private: not in typeshed
    while compile_re(f"^--{re.escape(boundary)}(--)?$", re.MULTILINE).search(text):
        boundary = f"{base}.{counter}"
        counter += 1
    return boundary


def _lines(payload: str) -> bytes:
    """The generator writes every line end of a payload as CRLF."""
    if "\r" in payload:
        payload = payload.replace("\r\n", "\n").replace("\r", "\n")
    return payload.replace("\n", "\r\n").encode("ascii")


def _quoted_printable(body: str, maxlinelen: int) -> str:
    """`quoprimime.body_encode(body, maxlinelen)` for text without CR, with its slow
    per-character translation replaced by a regex over the few characters that need escaping;
    the line breaking below is the function's own, unchanged."""
    if not body:
        return body
    pieces = _QP_ESCAPE.split(body)
    pieces[1::2] = [_QP_ESCAPES[c] for c in pieces[1::2]]
    body = "".join(pieces)
    maxlinelen1 = maxlinelen - 1
    encoded: list[str] = []
    append = encoded.append
    for line in body.splitlines():
        start = 0
        laststart = len(line) - 1 - maxlinelen
        while start <= laststart:
            stop = start + maxlinelen1
            # Never split an escape sequence.
            if line[stop - 2] == "=":
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":
            # Trailing whitespace is escaped, with a soft break where there is no room.
            room = start - laststart
            if room >= 3:
                q = quoprimime.quote(line[-1])
            elif room == 2:
                q = line[-1] + "=\n"
            else:
                q = "=\n" + quoprimime.quote(line[-1])
            append(line[start:-1] + q)
        else:
            append(line[start:])
    if body[-1] in "\r\n":
        append("")
    return "\n".join(encoded)


def _payload(body: str, cte: str) -> str:
    if cte != "quoted-printable":
        encoded: str = _encode_text(body, "utf-8", cte, SMTP)[1]
        return encoded
    # What `_encode_text` does for quoted-printable, with the faster encoder.
    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    return _quoted_printable(data.decode("latin-1"), _MAX_LINE_LENGTH)


def _text_part(subtype: str, body: str, cte: str) -> bytes:
    payload = _payload(body, cte)
    return (
        _header("Content-Type", f'text/{subtype}; charset="utf-8"')
        + _header("Content-Transfer-Encoding", cte)
        + _CRLF
        + _lines(payload)
    )


def _attachment_part(attachment: Attachment) -> bytes:
    maintype, subtype = attachment.content_type.lower().split("/")
    disposition = "attachment; " + _formatparam("filename", attachment.filename, True)
    payload = _encode_base64(attachment.data, SMTP.max_line_length)
    return (
        _header("Content-Type", f"{maintype}/{subtype}")
        + _header("Content-Transfer-Encoding", "base64")
        + _header("Content-Disposition", disposition)
        + _CRLF
        + _lines(payload)
    )


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """The Content-Type header and the body of a multipart holding the flattened `parts`."""
    boundary = _boundary(_CRLF.join(parts))
    delimiter = b"--" + boundary.encode("ascii")
    body = (
        delimiter
        + _CRLF
        + (_CRLF + delimiter + _CRLF).join(parts)
        + _CRLF
        + delimiter
        + b"--"
        + _CRLF
    )
    return _multipart_header(subtype, boundary), body


@dataclass(frozen=True)
class CalendarPart:
    """An iCalendar invitation shown by mail clients as one (iMIP, RFC 6047): a
    `text/calendar` alternative whose `method` matches the calendar's METHOD."""

    ics: str
    method: str

    @property
    def cte(self) -> str:
        return "7bit" if self.ics.isascii() else "base64"


def _calendar_part(calendar: CalendarPart) -> bytes:
    payload = _payload(calendar.ics, calendar.cte)
    # In the generator's order: it adds the method parameter after the transfer encoding.
    return (
        _header("Content-Transfer-Encoding", calendar.cte)
        + _header("Content-Type", f'text/calendar; charset="utf-8"; method="{calendar.method}"')
        + _CRLF
        + _lines(payload)
    )


@dataclass(frozen=True)
class Content:
    """The body of a message: its text, optional HTML and attachments, with the transfer
    encodings chosen for the two texts."""

    text: str
    text_cte: str
    html: str | None
    html_cte: str
    attachments: Sequence[Attachment]
    calendar: CalendarPart | None = None


def render(head: bytes, content: Content) -> bytes:
    """`head` (the folded top-level fields) and then `content`, laid out as
    `render_stdlib` lays it out."""
    part = _text_part("plain", content.text, content.text_cte)
    alternatives = []
    if content.html is not None:
        alternatives.append(_text_part("html", content.html, content.html_cte))
    if content.calendar is not None:
        alternatives.append(_calendar_part(content.calendar))
    if alternatives:
        ctype, body = _multipart("alternative", [part, *alternatives])
        part = ctype + _CRLF + body
    if content.attachments:
        # Inner boundaries are drawn before outer ones: the generator flattens inside out.
        ctype, body = _multipart("mixed", [part, *map(_attachment_part, content.attachments)])
        part = ctype + _CRLF + body
    return head + part


def render_stdlib(fields: Sequence[tuple[str, str]], content: Content) -> bytes:
    """The email package's way: header values that fold themselves, a MIMEPart tree, and the
    generator. MIMEPart rather than EmailMessage: the latter stamps MIME-Version on every
    subpart."""
    msg = MIMEPart(policy=SMTP)
    for name, value in fields:
        msg[name] = value
    msg.set_content(content.text, subtype="plain", charset="utf-8", cte=content.text_cte)
    if content.html is not None:
        msg.add_alternative(content.html, subtype="html", charset="utf-8", cte=content.html_cte)
    if content.calendar is not None:
        msg.add_alternative(
            content.calendar.ics,
            subtype="calendar",
            charset="utf-8",
            cte=content.calendar.cte,
            params={"method": content.calendar.method},
        )
    for attachment in content.attachments:
        maintype, subtype = attachment.content_type.lower().split("/")
        msg.add_attachment(
            attachment.data, maintype, subtype, cte="base64", filename=attachment.filename
        )
    return msg.as_bytes(policy=SMTP)

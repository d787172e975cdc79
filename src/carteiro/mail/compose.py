"""Building the exact RFC 5322 bytes of an outgoing message from validated parts."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.policy import SMTP, Policy
from email.utils import format_datetime
from functools import lru_cache

import idna

from carteiro.errors import InvalidInput, TooLarge
from carteiro.mail import mime
from carteiro.mail.addresses import format_address, parse_address
from carteiro.mail.attachments import Attachment, check_attachment

__all__ = [
    "STRUCTURAL_HEADERS",
    "check_custom_header",
    "check_header_value",
    "compose_message",
    "make_message_id",
]

# Set through dedicated arguments and never through `headers`; Sender and Return-Path would let a
# caller claim another identity or bounce address, which only the account configuration decides.
STRUCTURAL_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "reply-to"}
    | {"sender", "return-path"}
)
# Trace and authentication fields are added by the servers a message passes through and by
# Carteiro's own DKIM signer; a caller setting them could forge a delivery path or a verdict.
TRACE_HEADERS = frozenset(
    {"received", "x-received", "received-spf", "authentication-results", "return-path"}
    | {"dkim-signature", "domainkey-signature", "x-google-dkim-signature", "delivered-to"}
    | {"x-original-to", "original-recipient", "x-originating-ip"}
)
TRACE_PREFIXES = ("arc-", "resent-")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except the colon
_MAX_NAME = 76  # so that "Name: " still fits within a 78-character line
_BAD_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What a file name must not hold: control characters (tab included) and the invisible marks that
# reorder or hide text, so "invoice\u202efdp.exe" cannot be shown as "invoiceexe.pdf".
_BAD_FILENAME = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_LINE_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_MESSAGE_ID = re.compile(r"<[!-;=?A-~]{1,400}@[!-;=?A-~]{1,255}>")  # printable, no <>@
_WHITESPACE = re.compile(r"\s+")
_FOLD_AT = 78
_MAX_LINE = 998
# Python's registry types headers by name (Resent-From as an address list, ...); custom values
# are free text, so they are always parsed as unstructured.
_UNSTRUCTURED = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)
# A header field in order: name, value, and whether Python folds it (free text) or `_fold` does.
_Field = tuple[str, str, bool]


def make_message_id(domain: str) -> str:
    """A globally unique RFC 5322 msg-id, angle brackets included."""
    domain = domain.strip().lower()
    if not domain.isascii():
        # A domain idna refuses stays non-ASCII and is refused just below.
        with contextlib.suppress(idna.IDNAError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
    if not re.fullmatch(r"[a-z0-9._-]+", domain):
        raise InvalidInput(f"domain: {domain!r} is not a valid domain name", field="domain")
    return f"<{uuid.uuid4().hex}.{time.time_ns() // 1_000_000}@{domain}>"


def _check_header_name(name: str, field: str) -> None:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise InvalidInput(
            f"{field}: {name!r} is not a valid header name (printable ASCII without ':' or "
            f"spaces, at most {_MAX_NAME} characters)",
            field=field,
        )


def check_header_value(name: str, value: str, *, field: str | None = None) -> None:
    """Refuse a header whose name is not RFC 5322 ftext or whose value could break the header."""
    field = field or name
    _check_header_name(name, field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: the value must be text", field=field)
    if _LINE_BREAKS.search(value):
        raise InvalidInput(f"{field}: line breaks are not allowed", field=field)
    if _BAD_CHARS.search(value):
        raise InvalidInput(f"{field}: control characters are not allowed", field=field)


def check_custom_header(name: str, value: str) -> None:
    """Validate one entry of `headers`; structural headers have their own arguments."""
    _check_header_name(name, "headers")
    lowered = name.lower()
    if lowered in STRUCTURAL_HEADERS or lowered.startswith("content-"):
        raise InvalidInput(
            f"headers: {name!r} cannot be set here; use the dedicated field instead",
            field="headers",
        )
    if lowered in TRACE_HEADERS or lowered.startswith(TRACE_PREFIXES):
        raise InvalidInput(
            f"headers: {name!r} is a trace or authentication header that only mail servers "
            "(and Carteiro's DKIM signing) add",
            field="headers",
        )
    check_header_value(name, value, field=f"headers.{name}")


def _fold(name: str, value: str, linesep: str) -> str:
    """Fold at existing spaces only, so unfolding gives back exactly `value`."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if word and len(line) + 1 + len(word) > _FOLD_AT and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return linesep.join(lines) + linesep


class _Folded(str):
    """An ASCII header value written as folded by `_fold`, never re-encoded.

    Python's folder turns long ASCII tokens (List-Unsubscribe URLs) into encoded words and loses
    spaces in long encoded display names; values set this way bypass it.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _Folded:
        obj = super().__new__(cls, value)
        obj.name = name
        return obj

    def fold(self, *, policy: Policy) -> str:
        return _fold(self.name, str(self), policy.linesep)


def _checked(name: str, value: str, field: str) -> _Field:
    """A validated header field; ASCII values are folded by `_fold`, others by Python."""
    check_header_value(name, value, field=field)
    if not value.isascii():
        return name, value, True
    if any(len(line) > _MAX_LINE for line in _fold(name, value, "\n").splitlines()):
        raise InvalidInput(f"{field}: contains a word too long for an e-mail header", field=field)
    return name, value, False


def _fold_unstructured(name: str, value: str) -> str:
    """Python's folding of free text (RFC 2047 words), the slowest part of a header block.

    Short printable ASCII that cannot be read as an encoded word is written as it is, which
    is what the folder gives for it (tests/outbound/test_compose.py holds the two together);
    a personalised subject is new for every message, so memoising alone does not help."""
    if (
        value
        and len(name) + 2 + len(value) <= _FOLD_AT
        and value.isascii()
        and value.isprintable()
        and "=?" not in value
    ):
        return f"{name}: {value}\r\n"
    return _fold_free_text(name, value)


@lru_cache(maxsize=1024)
def _fold_free_text(name: str, value: str) -> str:
    """Memoised: a campaign repeats its subject when it is not personalised."""
    return _UNSTRUCTURED(name, value).fold(policy=SMTP)


def _address_list(values: Sequence[str], field: str) -> str:
    if isinstance(values, str):
        values = [values]
    return ", ".join(
        format_address(parse_address(v, field=f"{field}[{i}]"), None) for i, v in enumerate(values)
    )


def _text_cte(body: str) -> str:
    """7bit for short-lined ASCII, quoted-printable while that stays compact, else base64."""
    data = body.encode("utf-8")
    if (
        data.isascii()
        and b"\x00" not in data
        and all(len(line) <= _FOLD_AT for line in data.splitlines())
    ):
        return "7bit"
    escaped = len(data) - len(body.encode("ascii", "ignore"))
    # Quoted-printable triples every escaped byte; base64 costs a third of everything.
    return "quoted-printable" if escaped * 6 <= len(data) else "base64"


def _check_body(body: str, field: str) -> None:
    if not isinstance(body, str):
        raise InvalidInput(f"{field}: must be text", field=field)
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{field}: contains characters that are not valid Unicode", field=field
        ) from None


def compose_message(
    *,
    from_addr: str,
    from_name: str | None,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    calendar: mime.CalendarPart | None = None,
    reply_to: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: str,
    date: datetime | None = None,
    max_bytes: int | None = None,
    stdlib: bool = False,
) -> bytes:
    """The message exactly as it goes on the wire (CRLF); Bcc belongs in the envelope only.

    The bytes are written directly (`mime.render`); `stdlib=True` builds the same bytes as a
    MIMEPart tree with the email package, the reference the direct writer is checked against.
    """
    for index, attachment in enumerate(attachments):
        check_attachment(attachment, f"attachments[{index}]")
    # base64 alone makes attachments 4/3 bigger, so hopeless sizes fail before encoding anything.
    if max_bytes is not None and sum(len(a.data) for a in attachments) * 4 // 3 > max_bytes:
        raise TooLarge(
            f"attachments: the message would exceed the limit of {max_bytes} bytes",
            field="attachments",
        )
    _check_body(text, "text")
    if html is not None:
        _check_body(html, "html")
    if from_name is not None:
        check_header_value("From", from_name, field="from_name")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidInput(
            f"message_id: {message_id!r} is not a valid Message-ID", field="message_id"
        )

    fields = _fields(
        from_addr=from_addr,
        from_name=from_name,
        to=to,
        cc=cc,
        subject=subject,
        reply_to=reply_to,
        headers=headers,
        message_id=message_id,
        date=date,
    )
    content = mime.Content(
        text=text,
        text_cte=_text_cte(text),
        html=html,
        html_cte=_text_cte(html) if html is not None else "",
        attachments=attachments,
        calendar=calendar,
    )
    raw = _render(fields, content, stdlib=stdlib)
    if max_bytes is not None and len(raw) > max_bytes:
        raise TooLarge(
            f"attachments: the message is {len(raw)} bytes, over the limit of {max_bytes} bytes",
            field="attachments",
        )
    return raw


def _fields(
    *,
    from_addr: str,
    from_name: str | None,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    reply_to: Sequence[str] | None,
    headers: Mapping[str, str] | None,
    message_id: str,
    date: datetime | None,
) -> list[_Field]:
    """The top-level header fields, validated, in the order they are written."""
    sender = format_address(
        parse_address(from_addr, field="from_addr"), from_name, field="from_name"
    )
    fields = [_checked("From", sender, "from_name")]
    if to:
        fields.append(_checked("To", _address_list(to, "to"), "to"))
    if cc:
        fields.append(_checked("Cc", _address_list(cc, "cc"), "cc"))
    check_header_value("Subject", subject, field="subject")
    fields.append(("Subject", subject, True))
    when = date or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    fields.append(_checked("Date", format_datetime(when), "date"))
    fields.append(_checked("Message-ID", message_id, "message_id"))
    fields.append(_checked("MIME-Version", "1.0", "mime_version"))
    if reply_to:
        fields.append(_checked("Reply-To", _address_list(reply_to, "reply_to"), "reply_to"))
    seen: set[str] = set()
    for name, value in (headers or {}).items():
        check_custom_header(name, value)
        if name.lower() in seen:
            # Header names ignore case, and some (Orig-Date…) may appear only once.
            raise InvalidInput(
                f"headers: {name!r} is given twice (header names ignore case)", field="headers"
            )
        seen.add(name.lower())
        fields.append(_checked(name, value, f"headers.{name}"))
    return fields


def _render(fields: list[_Field], content: mime.Content, *, stdlib: bool) -> bytes:
    if stdlib:
        headers = [(n, _UNSTRUCTURED(n, v) if free else _Folded(n, v)) for n, v, free in fields]
        return mime.render_stdlib(headers, content)
    head = "".join(
        _fold_unstructured(n, v) if free else _fold(n, v, "\r\n") for n, v, free in fields
    )
    return mime.render(head.encode("ascii"), content)


def set_from(raw: bytes, *, from_addr: str, from_name: str | None) -> bytes:
    """The same message with its From field replaced (the account pool picks the sender late).

    Only the header block changes; body bytes are untouched, so the rest stays byte-exact."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    value = format_address(from_addr, from_name)
    new_field = _fold("From", value, "\r\n").rstrip("\r\n").encode("ascii")
    replaced = [new_field if f.lower().startswith(b"from:") else f for f in fields]
    if replaced == fields and not any(f.lower().startswith(b"from:") for f in fields):
        replaced.insert(0, new_field)
    return b"\r\n".join(replaced) + sep + body

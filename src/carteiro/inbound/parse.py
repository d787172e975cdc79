"""Parses raw RFC 5322 bytes into what the inbox stores; never raises, whatever the input."""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import compat32

from carteiro.inbound import mime

MAX_DEPTH = 30
MAX_PARTS = 500
MAX_BODY_CHARS = 2 * 1024 * 1024
# Headers kept as data on the message (loop protection, lists, bounce matching).
KEPT_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "return-path",
    "delivered-to",
    "x-original-to",
    "x-failed-recipients",
    "content-type",
    "sender",
)


@dataclass
class Address:
    email: str
    name: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name}


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class ParsedMessage:
    # The parsed tree; dropped (None) once the bounce check is done in a worker process.
    message: Message | None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    date: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    html: str | None = None
    snippet: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    # Set by the fetcher: the bounce or complaint this message is (reports.Report), if any.
    report: object | None = None
    report_checked: bool = False

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this message is or refers to, parents first."""
        ids = [*self.references]
        if self.in_reply_to and self.in_reply_to not in ids:
            ids.append(self.in_reply_to)
        if self.message_id:
            ids.append(self.message_id)
        return list(dict.fromkeys(ids))


def _header_map(msg: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        items = msg.raw_items()
        for name, value in items:
            key = str(name).strip().lower()
            if key not in found:
                found[key] = value
    except Exception:
        pass
    return found


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    try:
        charset = part.get_param("charset")
    except Exception:
        charset = None
    if isinstance(charset, tuple):  # RFC 2231 form: (charset, language, value)
        charset = charset[2] if len(charset) > 2 else None
    text = mime.decode_bytes(payload, charset if isinstance(charset, str) else None)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _part_bytes(part: Message, ctype: str) -> bytes:
    try:
        if ctype.startswith("message/") or part.is_multipart():
            # Enclosed messages and reports are kept as their text, not decoded further.
            return part.as_bytes(policy=compat32).split(b"\n\n", 1)[-1]
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""
    except Exception:
        return b""


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = mime.decode_header_value(name, 255)
    name = name.replace("/", "_").replace("\\", "_").strip()
    return name or None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()[:255]
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


class _Walker:
    """Collects the body and attachments without descending into enclosed messages."""

    def __init__(self, parsed: ParsedMessage) -> None:
        self.parsed = parsed
        self.plain: list[str] = []
        self.html: list[str] = []
        self.parts = 0

    def walk(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if depth > MAX_DEPTH or self.parts > MAX_PARTS:
            self.parsed.defects.append("too deeply nested or too many parts")
            return
        ctype = _content_type(part)
        disposition = _disposition(part)
        filename = _filename(part)
        if ctype.startswith("multipart/"):
            children = part.get_payload()
            if isinstance(children, list):
                for child in children:
                    if isinstance(child, Message):
                        self.walk(child, depth + 1)
                return
            # A multipart without parts (no or wrong boundary): read it as text.
            ctype = "text/plain"
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (self.plain if ctype == "text/plain" else self.html).append(_part_text(part))
            return
        self._attach(part, ctype, disposition, filename)

    def _attach(self, part: Message, ctype: str, disposition: str | None, name: str | None) -> None:
        cid = mime.message_ids(part.get("Content-ID"), 1)
        default = "message.eml" if ctype == "message/rfc822" else "attachment"
        self.parsed.attachments.append(
            ParsedAttachment(
                filename=name or default,
                content_type=ctype,
                data=_part_bytes(part, ctype),
                content_id=cid[0] if cid else None,
                inline=disposition == "inline" or (disposition is None and bool(cid)),
            )
        )


def _fill_headers(parsed: ParsedMessage, headers: dict[str, str]) -> None:
    ids = mime.message_ids(headers.get("message-id"), 1)
    parsed.message_id = ids[0] if ids else None
    parents = mime.message_ids(headers.get("in-reply-to"), 1)
    parsed.in_reply_to = parents[0] if parents else None
    parsed.references = mime.message_ids(headers.get("references"), 50)
    parsed.subject = mime.decode_header_value(headers.get("subject"))
    senders = mime.addresses(headers.get("from")) or mime.addresses(headers.get("sender"))
    if senders:
        parsed.sender = Address(email=senders[0][1], name=senders[0][0])
    for key, target in (("to", parsed.to), ("cc", parsed.cc), ("reply-to", parsed.reply_to)):
        target.extend(Address(email=a, name=n) for n, a in mime.addresses(headers.get(key))[:200])
    parsed.date = mime.parse_date(headers.get("date"))
    for key in KEPT_HEADERS:
        if key in headers:
            parsed.headers[key] = mime.decode_header_value(headers[key], 1000)


def parse_message(raw: bytes) -> ParsedMessage:
    """Everything the inbox needs from one message; bad input yields defects, not errors."""
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # pragma: no cover - the parser is documented never to raise
        msg = Message()
        parsed = ParsedMessage(message=msg, defects=[f"unparseable: {type(exc).__name__}"])
        parsed.text = mime.decode_bytes(raw[:MAX_BODY_CHARS], None)
        parsed.snippet = mime.snippet(parsed.text)
        return parsed
    parsed = ParsedMessage(message=msg)
    headers = _header_map(msg)
    try:
        _fill_headers(parsed, headers)
    except Exception as exc:
        parsed.defects.append(f"headers: {type(exc).__name__}")
    walker = _Walker(parsed)
    try:
        walker.walk(msg)
    except (RecursionError, Exception) as exc:
        parsed.defects.append(f"body: {type(exc).__name__}")
    text = "\n\n".join(t for t in walker.plain if t.strip())
    html = "\n".join(walker.html) if walker.html else None
    if html is not None:
        if len(html) > MAX_BODY_CHARS:
            parsed.defects.append("html body truncated")
            html = html[:MAX_BODY_CHARS]
        parsed.html = mime.sanitize_html(html)
        if not text.strip():
            text = mime.html_to_text(parsed.html)
    if len(text) > MAX_BODY_CHARS:
        parsed.defects.append("text body truncated")
        text = text[:MAX_BODY_CHARS]
    parsed.text = text.replace("\x00", "")
    parsed.snippet = mime.snippet(parsed.text)
    parsed.defects.extend(type(d).__name__ for d in (msg.defects or [])[:20])
    return parsed

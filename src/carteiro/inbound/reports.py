"""Reads delivery status notifications (RFC 3464) and abuse reports (ARF, RFC 5965)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from carteiro.inbound import mime
from carteiro.inbound.parse import ParsedMessage

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|returned mail|failure notice|"
    r"não (foi possível )?entregue|mensagem não entregue|falha na entrega|delivery notification",
    re.I,
)
_VERP = re.compile(r"^[^@+]+\+cb-(\d{1,18})-([0-9a-f]{10})@", re.I)


@dataclass
class Outcome:
    """What happened for one recipient of the original message."""

    recipient: str | None
    kind: str  # bounce_hard | bounce_soft | complained
    status: str | None = None
    diagnostic: str | None = None


@dataclass
class Report:
    kind: str  # bounce | complaint
    outcomes: list[Outcome] = field(default_factory=list)
    original_message_id: str | None = None
    original_return_path: str | None = None
    feedback_type: str | None = None


def verp_address(from_email: str, *, email_id: int, message_id: str) -> str:
    """A return path that names the outbound message: `local+cb-<id>-<tag>@domain`.

    The tag comes from the Message-ID, so a stranger cannot aim a fake bounce at a message."""
    local, _, domain = from_email.partition("@")
    return f"{local}+cb-{email_id}-{_verp_tag(message_id)}@{domain}"


def _verp_tag(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:10]


def parse_verp(address: str | None) -> tuple[int, str] | None:
    """(email id, tag) from a VERP return path made by `verp_address`."""
    match = _VERP.match((address or "").strip().strip("<>"))
    return (int(match.group(1)), match.group(2).lower()) if match else None


def verp_matches(message_id: str, tag: str) -> bool:
    return _verp_tag(message_id) == tag


def _blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append(
                    {k.lower(): mime.decode_header_value(v) for k, v in block.raw_items()}
                )
        if any(blocks):
            return blocks
    # Some mailers encode the report (base64) or send it as text: parse the text ourselves.
    raw = part.get_payload(decode=True) if not isinstance(payload, list) else None
    text = mime.decode_bytes(raw, None) if isinstance(raw, bytes) else str(payload or "")
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        headers = HeaderParser(policy=compat32).parsestr(chunk.strip() + "\n")
        block = {k.lower(): mime.decode_header_value(v) for k, v in headers.raw_items()}
        if block:
            blocks.append(block)
    return blocks


def _address_field(value: str | None) -> str | None:
    if not value:
        return None
    text = value.split(";", 1)[-1].strip().strip("<>").lower()
    return text if "@" in text and " " not in text else None


def _original(msg: Message) -> tuple[str | None, str | None]:
    """Message-ID and Return-Path of the original message enclosed in a report."""
    for part in msg.walk():
        ctype = part.get_content_type()
        headers: Message | None = None
        if ctype == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            headers = first if isinstance(first, Message) else None
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = mime.decode_bytes(raw, None) if isinstance(raw, bytes) else ""
            headers = HeaderParser(policy=compat32).parsestr(text)
        if isinstance(headers, Message):
            ids = mime.message_ids(headers.get("Message-ID"), 1)
            return_path = mime.addresses(headers.get("Return-Path"))
            return (ids[0] if ids else None), (return_path[0][1] if return_path else None)
    return None, None


def _kind_for(action: str, status: str | None) -> str | None:
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return None
    if (status and status.startswith("4")) or action == "delayed":
        return "bounce_soft"
    return "bounce_hard"


def _dsn(msg: Message) -> Report | None:
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        report = Report(kind="bounce")
        blocks = _blocks(part)
        # The first block describes the reporting MTA; recipients follow.
        for block in blocks[1:] or blocks:
            recipient = _address_field(block.get("final-recipient")) or _address_field(
                block.get("original-recipient")
            )
            if recipient is None and "action" not in block:
                continue
            found = _ENHANCED.search(block.get("status", ""))
            status = ".".join(found.groups()) if found else None
            kind = _kind_for(block.get("action", "failed"), status)
            if kind:
                report.outcomes.append(
                    Outcome(recipient, kind, status, block.get("diagnostic-code") or None)
                )
        return report if report.outcomes else None
    return None


def _arf(msg: Message) -> Report | None:
    for part in msg.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        fields: dict[str, str] = {}
        for block in _blocks(part):
            fields.update(block)
        recipient = _address_field(fields.get("original-rcpt-to"))
        report = Report(kind="complaint", feedback_type=fields.get("feedback-type") or "abuse")
        report.outcomes.append(Outcome(recipient, "complained", None, report.feedback_type))
        return report
    return None


def _legacy_bounce(parsed: ParsedMessage) -> Report | None:
    """Bounces without a DSN part (old qmail, some Exchange): sender and subject give it away."""
    sender = parsed.sender.email if parsed.sender else ""
    if not (_DAEMON.match(sender) and _BOUNCE_SUBJECT.search(parsed.subject)):
        return None
    found = _ENHANCED.search(parsed.text)
    status = ".".join(found.groups()) if found else None
    kind = "bounce_soft" if status and status.startswith("4") else "bounce_hard"
    failed = [a for _, a in mime.addresses(parsed.headers.get("x-failed-recipients"))]
    report = Report(kind="bounce")
    recipients: list[str | None] = [*failed] or [None]
    for recipient in recipients:
        report.outcomes.append(Outcome(recipient, kind, status, None))
    return report


def detect(parsed: ParsedMessage) -> Report | None:
    """The bounce or complaint this message is, or None for ordinary mail."""
    msg = parsed.message
    if msg is None:
        return None
    try:
        ctype = msg.get_content_type()
        report_type = str(msg.get_param("report-type") or "").lower()
        report = None
        if ctype == "multipart/report":
            first = _arf if report_type == "feedback-report" else _dsn
            # Some senders label the report type wrongly; the parts say what it is.
            report = first(msg) or _dsn(msg) or _arf(msg)
        else:
            # A report that says "delivered" is not a bounce, whatever its subject.
            report = _legacy_bounce(parsed)
        if report is None:
            return None
        report.original_message_id, report.original_return_path = _original(msg)
        if report.original_message_id is None and report.kind == "bounce":
            # Legacy bounces quote the headers in the text.
            ids = mime.message_ids(_quoted_message_id(parsed.text), 1)
            report.original_message_id = ids[0] if ids else None
        return report
    except Exception:
        return None


def _quoted_message_id(text: str) -> str:
    match = re.search(r"^\s*Message-ID:\s*(<[^>\s]+>)", text, re.I | re.M)
    return match.group(1) if match else ""

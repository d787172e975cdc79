"""The strict reading of "Envie um email para X com assunto 'Y' e mensagem 'Z'" (no model)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from carteiro.errors import InvalidInput
from carteiro.mail.addresses import parse_addresses

_FLAGS = re.I | re.S
_VERB = re.compile(
    r"(?:por\s+favor,?\s+)?(?:envie|envia|enviar|mande|manda|mandar)\s+(?:um\s+|o\s+)?"
    r"e-?mail\s+para\s+",
    _FLAGS,
)
_ADDRESS = r"[^\s,;'\"“”‘’]+@[^\s,;'\"“”‘’]+"
_ADDRESSES = re.compile(rf"({_ADDRESS}(?:\s*(?:,|;|\se\s)\s*{_ADDRESS})*)", _FLAGS)
_QUOTED = r"(?:'([^']*)'|\"([^\"]*)\"|“([^”]*)”|‘([^’]*)’)"
_SEP = r"(?:\s*,\s*|\s+)"
_CLAUSES: dict[str, re.Pattern[str]] = {
    "cc": re.compile(
        rf"{_SEP}(?:e\s+)?com\s+(?:c[óo]pia|cc)\s+para\s+({_ADDRESS}"
        rf"(?:\s*(?:,|;|\se\s)\s*{_ADDRESS})*)",
        _FLAGS,
    ),
    "subject": re.compile(rf"{_SEP}(?:e\s+|com\s+)(?:o\s+)?assunto\s*:?\s*{_QUOTED}", _FLAGS),
    "body": re.compile(
        rf"{_SEP}(?:e\s+|com\s+)(?:a\s+|o\s+)?(?:mensagem|corpo|texto)\s*:?\s*{_QUOTED}", _FLAGS
    ),
    "priority": re.compile(
        rf"{_SEP}(?:e\s+|com\s+)(?:a\s+)?prioridade\s+(baixa|normal|alta|urgente)\b", _FLAGS
    ),
}
_PRIORITIES = {"baixa": "low", "normal": "normal", "alta": "high", "urgente": "urgent"}


@dataclass(frozen=True)
class SendRequest:
    """What the sentence asks for: exactly the send_email arguments it names."""

    to: list[str]
    subject: str
    body: str
    cc: list[str] = field(default_factory=list)
    priority: str = "normal"


def _quoted(match: re.Match[str], start: int = 1) -> str:
    return next(g for g in match.groups()[start - 1 : start + 3] if g is not None)


def _addresses(text: str) -> list[str] | None:
    parts = [p for p in re.split(r"\s*(?:,|;|\se\s)\s*", text.strip()) if p]
    try:
        return parse_addresses(parts, field="to")
    except InvalidInput:
        return None


def parse_send_request(text: str) -> SendRequest | None:
    """The request when `text` is the canonical Portuguese phrasing (or one of its close
    variants: e-mail/email, envie/mande, "…"/'…'/“…” quotes, com cópia para, corpo/texto,
    prioridade alta); None for anything else. It never guesses: no quotes, no address, a
    clause twice, or any word left over, and it gives up."""
    sentence = text.strip()
    sentence = re.sub(r"[.!]\s*$", "", sentence)
    verb = _VERB.match(sentence)
    if verb is None:
        return None
    recipients = _ADDRESSES.match(sentence, verb.end())
    if recipients is None:
        return None
    to = _addresses(recipients.group(1))
    if not to:
        return None
    found: dict[str, str] = {}
    position = recipients.end()
    while position < len(sentence):
        for name, pattern in _CLAUSES.items():
            match = pattern.match(sentence, position)
            if match is None:
                continue
            if name in found:
                return None
            found[name] = match.group(1) if name in ("cc", "priority") else _quoted(match)
            position = match.end()
            break
        else:
            return None
    subject, body = found.get("subject"), found.get("body")
    if subject is None or body is None or not subject.strip() or not body.strip():
        return None
    if "\n" in subject or "\r" in subject:
        return None
    cc: list[str] = []
    if "cc" in found:
        parsed_cc = _addresses(found["cc"])
        if not parsed_cc:
            return None
        cc = parsed_cc
    return SendRequest(
        to=to,
        subject=subject.strip(),
        body=body.strip(),
        cc=cc,
        priority=_PRIORITIES[found.get("priority", "normal").lower()],
    )

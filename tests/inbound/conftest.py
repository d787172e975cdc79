"""Inbox fixtures: a private Dovecot, an account that reads it and sends to the SMTP sink."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid

import pytest

from imapkit import dovecot, imap_account, imap_settings, sync  # noqa: F401  (fixtures)

MailFactory = Callable[..., bytes]


def build_mail(
    *,
    subject: str = "Orçamento",
    sender: str = "Cliente <cliente@example.org>",
    to: str = "inbox@example.com",
    body: str = "Olá, gostaria de um orçamento.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain UTF-8 message; pass message_id='' for none at all."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date or datetime.now(UTC))}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if message_id != "":
        lines.append(f"Message-ID: {message_id or make_msgid(domain='example.org')}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


@pytest.fixture
def mail() -> MailFactory:
    return build_mail

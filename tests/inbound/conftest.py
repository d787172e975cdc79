"""Inbox fixtures: a private Dovecot, an account that reads it and sends to the SMTP sink."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest

from carteiro.accounts import service as accounts_service
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.inbound.schemas import SyncReport
from carteiro.inbound.worker import sync_account_blocking
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from carteiro.testing.smtp_server import SmtpSink

MailFactory = Callable[..., bytes]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A Dovecot of our own on a loopback port, with one maildir user."""
    if not Dovecot.available():
        reason = "dovecot is not installed (Debian: apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # Its own directory under /tmp: Dovecot's unprivileged processes cannot enter tmp_path.
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def imap_settings(dovecot: Dovecot, **extra: Any) -> dict[str, Any]:
    return {**dovecot.imap_settings, "poll_seconds": 300, **extra}


@pytest.fixture
def imap_account(runtime: Runtime, principal: Principal, sink: SmtpSink, dovecot: Dovecot) -> int:
    """An account receiving at the Dovecot user and sending through the SMTP sink."""
    data = AccountCreate(
        name="caixa",
        email=dovecot.user,
        display_name="Equipe Carteiro",
        smtp=SmtpIn(
            host=sink.hostname,
            port=sink.port,
            security="starttls",
            username="user",
            password="secret",
            ca_file=str(sink.cert_path),
        ),
        imap=imap_settings(dovecot),
    )
    with runtime.db.session() as session:
        return accounts_service.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id


@pytest.fixture
def sync(runtime: Runtime, imap_account: int) -> Callable[[], SyncReport]:
    """Runs a full sync of the account now and returns the report."""
    return lambda: sync_account_blocking(runtime, account_id=imap_account)


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

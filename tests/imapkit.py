"""Inbox fixtures shared by the test folders that read mail: a private Dovecot, an account that
reads it and sends to the SMTP sink, and a sync of that account now."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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

"""Shared set-up for the inbox and compose page tests: Dovecot, an account, people, clients."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, make_msgid

import pytest
from fastapi.testclient import TestClient

from carteiro.accounts import service as accounts_service
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.api.app import create_app
from carteiro.inbound.worker import sync_account_blocking
from carteiro.runtime import Runtime
from carteiro.tenancy import access, people, sessions
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from carteiro.testing.smtp_server import SmtpSink
from carteiro.web.security import CSRF_COOKIE, SESSION_COOKIE

LIFETIME = sessions.Lifetime(absolute=timedelta(hours=8), idle=timedelta(hours=2))


def build_mail(
    *,
    subject: str,
    sender: str = "Ana <ana@cliente.com.br>",
    to: str = "inbox@example.com",
    body: str = "Olá!",
    html: str | None = None,
    message_id: str | None = None,
) -> bytes:
    head = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {message_id or make_msgid(domain='cliente.com.br')}",
        "MIME-Version: 1.0",
    ]
    if html is None:
        head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()
    head.append('Content-Type: multipart/alternative; boundary="alt"')
    parts = (
        f"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        f"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt--\r\n"
    )
    return ("\r\n".join(head) + "\r\n\r\n" + parts).encode()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not Dovecot.available():
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is not installed")
        pytest.skip("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def add_account(
    runtime: Runtime, principal: Principal, sink: SmtpSink, dovecot: Dovecot, name: str = "caixa"
) -> int:
    data = AccountCreate(
        name=name,
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
        imap={**dovecot.imap_settings, "poll_seconds": 300},
    )
    with runtime.db.session() as session:
        return accounts_service.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id


@pytest.fixture
def imap_account(runtime: Runtime, principal: Principal, sink: SmtpSink, dovecot: Dovecot) -> int:
    return add_account(runtime, principal, sink, dovecot)


@pytest.fixture
def sync(runtime: Runtime, imap_account: int) -> Callable[[], object]:
    return lambda: sync_account_blocking(runtime, account_id=imap_account)


PersonFactory = Callable[..., TestClient]


@pytest.fixture
def person_client(runtime: Runtime, principal: Principal) -> Iterator[PersonFactory]:
    """A logged-in TestClient for a new person of the given role (and mailbox grants)."""
    app = create_app(runtime, run_worker=False)
    opened: list[TestClient] = []

    def make(role: str = "operator", grants: tuple[int, ...] = (), email: str = "") -> TestClient:
        address = email or f"{role}{len(opened)}@carteiro.example"
        with runtime.db.session() as session:
            user = people.create(
                session,
                tenant_id=principal.tenant_id,
                email=address,
                name=role.title(),
                password="uma senha longa o bastante",
                role=role,
            )
            for account_id in grants:
                access.grant(session, user_id=user.id, account_id=account_id)
            _, token = sessions.create(session, user=user, lifetime=LIFETIME)
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        opened.append(client)
        client.cookies.set(SESSION_COOKIE, token)
        client.cookies.set("carteiro_lang", "pt_BR")
        first = client.get("/ui/login")
        token_value = client.cookies.get(CSRF_COOKIE) or first.cookies.get(CSRF_COOKIE)
        assert token_value, "the console sets a CSRF cookie"
        client.headers["X-CSRF-Token"] = token_value
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)

"""MCP fixtures: the HTTP app on a free port, extra API keys, stdio env, a Dovecot mailbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.testing.asgi_server import serve_in_thread
from imapkit import dovecot, imap_account, imap_settings, sync  # noqa: F401  (fixtures)


@pytest.fixture
def make_key(runtime: Runtime, api_key: str) -> Callable[..., str]:
    """Creates another key of the default tenant and returns it in plain text."""

    def make(name: str = "agent", **options: object) -> str:
        with runtime.db.session() as session:
            tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
            _, plain = tenancy.create_key(
                session,
                tenant_id=tenant.id,
                name=name,
                **options,  # type: ignore[arg-type]
            )
        return plain

    return make


@pytest.fixture
def stdio_env(runtime: Runtime, api_key: str) -> dict[str, str]:
    """What a desktop MCP client would put in the server's env for `carteiro mcp`."""
    s = runtime.settings
    return {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": s.secret_key or "",
        "CARTEIRO_API_KEY": api_key,
        "EMAIL_RATE_LIMIT_PER_HOUR": "0",
        "CARTEIRO_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def stdio_cwd(tmp_path: Path) -> Path:
    # An empty working directory, so a developer's .env cannot leak into the child process.
    cwd = tmp_path / "stdio-cwd"
    cwd.mkdir()
    return cwd


@pytest.fixture
def http_base(runtime: Runtime, api_key: str) -> Iterator[str]:
    """`create_app(runtime, run_worker=False)` served on 127.0.0.1:<free port>."""
    with serve_in_thread(create_app(runtime, run_worker=False)) as base:
        yield base


def inbound_mail(
    *,
    subject: str,
    sender: str,
    body: str,
    to: str = "inbox@example.com",
    message_id: str | None = None,
    date: datetime | None = None,
    html: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    language: str | None = None,
) -> bytes:
    """A message as a mail client would send it, optionally with HTML and one attachment."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain="example.org")
    if language:
        message["Content-Language"] = language
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()

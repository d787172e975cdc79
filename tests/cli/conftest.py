"""CLI fixtures: the Typer app run in-process against the test database, an SMTP sink, child env."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carteiro.cli.main import app
from carteiro.config import Settings, get_settings
from carteiro.testing.smtp_server import SmtpSink

USERS = {"alice": "s3cret"}


def base_env(settings: Settings) -> dict[str, str | None]:
    """CARTEIRO_* variables for the test database; None unsets a variable for the command."""
    return {
        "CARTEIRO_DATABASE_URL": settings.database_url,
        "CARTEIRO_DATA_DIR": str(settings.data_dir),
        "CARTEIRO_SECRET_KEY": str(settings.secret_key),
        "CARTEIRO_SMTP_TIMEOUT": "5",
        "CARTEIRO_POLL_INTERVAL": "0.1",
        "EMAIL_RATE_LIMIT_PER_HOUR": "0",
        "CARTEIRO_API_KEY": None,
        "GMAIL_EMAIL": None,
        "GMAIL_APP_PASSWORD": None,
        # Wide enough that Rich tables never truncate the values tests look for.
        "COLUMNS": "250",
    }


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    # Settings also read `.env` from the working directory; a developer's must not leak in.
    monkeypatch.chdir(tmp_path)
    return base_env(settings)


@pytest.fixture
def cli(cli_env: dict[str, str | None]) -> Iterator[Callable[..., Result]]:
    """Runs `carteiro ARGS…` in-process; settings are re-read for every invocation."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict | None = None) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), input=input, env={**cli_env, **(env or {})})
        finally:
            get_settings.cache_clear()

    yield invoke
    get_settings.cache_clear()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A STARTTLS SMTP server that accepts alice/s3cret and trusts nobody else."""
    with SmtpSink(users=USERS, cert_dir=tmp_path / "certs") as server:
        yield server


@pytest.fixture
def child_env(settings: Settings) -> dict[str, str]:
    """The environment for a `carteiro` child process: ours minus any outer Carteiro config."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_", "GMAIL_"))
    }
    env.update({k: v for k, v in base_env(settings).items() if v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

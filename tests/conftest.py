"""Shared fixtures: a migrated database per test (SQLite or PostgreSQL), settings, runtime."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from carteiro import wiring
from carteiro.accounts import service as accounts_service
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.config import Settings
from carteiro.db import migrate
from carteiro.db.engine import Database
from carteiro.db.models import Base
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.smtp_server import SmtpSink

BACKEND = os.environ.get("CARTEIRO_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread until the session ends, and no asyncio test after it could start its own."""
    items.sort(key=lambda item: "playwright" in getattr(item, "fixturenames", ()))


def pytest_report_header(config: pytest.Config) -> str:
    return f"carteiro test database: {BACKEND}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run; tests get it emptied or copied."""
    if BACKEND == "sqlite":
        template = tmp_path_factory.mktemp("template") / "template.db"
        db = Database(f"sqlite:///{template}")
        migrate.upgrade(db.engine)
        db.dispose()
        yield f"sqlite:///{template}"
        return
    if BACKEND != "postgresql":
        raise RuntimeError(f"CARTEIRO_TEST_DATABASE must be sqlite or postgresql, not {BACKEND}")
    import psycopg

    name = f"carteiro_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    migrate.upgrade(db.engine)
    db.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> str:
    """The URL of an empty, migrated database private to this test."""
    if database_url.startswith("sqlite"):
        target = tmp_path / "carteiro.db"
        shutil.copy(database_url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    db = Database(database_url)
    with db.engine.begin() as conn:
        existing = set(inspect(conn).get_table_names()) - {"alembic_version"}
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name in existing)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.dispose()
    return database_url


@pytest.fixture
def settings(fresh_database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=fresh_database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
        email_rate_limit_per_hour=0,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        poll_interval=0.05,
        webhook_poll_interval=0.05,
        lease_seconds=5,
        shutdown_grace_seconds=5,
        smtp_timeout=5,
        gmail_email=None,
        gmail_app_password=None,
        api_key=None,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = wiring.runtime(settings)
    yield rt
    rt.db.dispose()


@pytest.fixture
def api_key(runtime: Runtime) -> str:
    """The default tenant's first key, as printed on first start."""
    plain = runtime.bootstrap()
    assert plain is not None
    return plain


@pytest.fixture
def principal(runtime: Runtime, api_key: str) -> Principal:
    return runtime.authenticate(api_key)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback requiring STARTTLS and AUTH (user/secret)."""
    with SmtpSink(users={"user": "secret"}, cert_dir=tmp_path / "certs") as server:
        yield server


@pytest.fixture
def smtp_account(runtime: Runtime, principal: Principal, sink: SmtpSink) -> int:
    """An account of the default tenant that delivers to `sink`; returns its id."""
    data = AccountCreate(
        name="sink",
        email="sender@example.com",
        display_name="Equipe Carteiro",
        smtp=SmtpIn(
            host=sink.hostname,
            port=sink.port,
            security="starttls",
            username="user",
            password="secret",
            ca_file=str(sink.cert_path),
        ),
    )
    with runtime.db.session() as session:
        return accounts_service.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id

"""Lead fixtures: an API client over the real app, a second tenant, keys with few scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from carteiro.api.app import create_app
from carteiro.cli import leads as leads_cli
from carteiro.cli.common import CarteiroGroup
from carteiro.config import Settings, get_settings
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def other_tenant(runtime: Runtime, api_key: str) -> tuple[Principal, str]:
    """A second tenant's principal and its key."""
    with runtime.db.session() as session:
        tenant = tenancy.create_tenant(session, slug="other")
        _, plain = tenancy.create_key(session, tenant_id=tenant.id, name="other")
    return runtime.authenticate(plain), plain


@pytest.fixture
def key_with(runtime: Runtime, api_key: str) -> Callable[..., str]:
    """A key of the default tenant holding only the given scopes."""

    def make(*scopes: str) -> str:
        with runtime.db.session() as session:
            tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
            _, plain = tenancy.create_key(
                session, tenant_id=tenant.id, name="limited", scopes=scopes
            )
        return plain

    return make


@pytest.fixture
def cli(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Result]]:
    """Runs `carteiro import …` in-process against the test database (settings re-read)."""
    # The import group as the lead mounts it in cli/main.py.
    root = typer.Typer(cls=CarteiroGroup, pretty_exceptions_show_locals=False)
    root.add_typer(leads_cli.app, name="import")
    # Settings also read `.env` from the working directory; a developer's must not leak in.
    monkeypatch.chdir(tmp_path)
    env = {
        "CARTEIRO_DATABASE_URL": settings.database_url,
        "CARTEIRO_DATA_DIR": str(settings.data_dir),
        "CARTEIRO_SECRET_KEY": str(settings.secret_key),
        "CARTEIRO_API_KEY": None,
        "GMAIL_EMAIL": None,
        "GMAIL_APP_PASSWORD": None,
        "COLUMNS": "200",
    }
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(root, list(args), env=env)
        finally:
            get_settings.cache_clear()

    yield invoke
    get_settings.cache_clear()

"""MCP fixtures: the HTTP app served by uvicorn on a free port, extra API keys, stdio env."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.testing.asgi_server import serve_in_thread


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

"""MCP fixtures: the HTTP app served by uvicorn on a free port, extra API keys, stdio env."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy


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
    app = create_app(runtime, run_worker=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()

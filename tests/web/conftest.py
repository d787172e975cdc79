"""Console fixtures: people and logged-in clients over the real app, and for the browser tests
a real uvicorn on loopback driven by Debian's headless Chromium."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from webkit import PASSWORD, LiveServer, Made, find_chromium, login

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy import access, people
from carteiro.tenancy.service import Principal


@pytest.fixture
def tenant_id(principal: Principal) -> int:
    """The default tenant (made with its first key, as on the first start)."""
    return principal.tenant_id


@pytest.fixture
def make_user(runtime: Runtime, tenant_id: int) -> Callable[..., Made]:
    """Creates a person of the default tenant (password PASSWORD), optionally with grants."""

    def _make(
        email: str, role: str = "operator", *, name: str | None = None, grants: tuple[int, ...] = ()
    ) -> Made:
        with runtime.db.session() as session:
            user = people.create(
                session,
                tenant_id=tenant_id,
                email=email,
                name=name or email.split("@")[0].title(),
                password=PASSWORD,
                role=role,
            )
            for account_id in grants:
                access.grant(session, user_id=user.id, account_id=account_id)
            return Made(user.id, user.email, user.role)

    return _make


@pytest.fixture
def web(runtime: Runtime) -> Iterator[Callable[[], TestClient]]:
    """Makes TestClients (each its own cookie jar) over one app without the worker."""
    app = create_app(runtime, run_worker=False)
    clients: list[TestClient] = []

    def _client() -> TestClient:
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield _client
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def as_user(
    web: Callable[[], TestClient], make_user: Callable[..., Made]
) -> Callable[..., TestClient]:
    """A client logged in as a new person with that role."""

    def _as(role: str, email: str | None = None, grants: tuple[int, ...] = ()) -> TestClient:
        made = make_user(email or f"{role}@example.com", role, grants=grants)
        client = web()
        response = login(client, made.email)
        assert response.status_code == 303, response.text
        return client

    return _as


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Overrides pytest-playwright's: Debian's Chromium, never a downloaded one."""
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium-headless-shell (see .ci/run)")
        pytest.skip(
            "no system Chromium: apt-get install -y --no-install-recommends chromium-headless-shell"
        )
    # Playwright adds --headless and --no-sandbox itself (fine as root).
    return {**browser_type_launch_args, "executable_path": exe}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Pinned: Chromium binaries differ in the Accept-Language they send by default.
    return {
        **browser_context_args,
        "locale": "pt-BR",
        "timezone_id": "America/Sao_Paulo",
        "viewport": {"width": 1280, "height": 800},
    }


@pytest.fixture
def live_server(runtime: Runtime, tenant_id: int) -> Iterator[LiveServer]:
    """The real app (no worker) under uvicorn in a thread, on a pre-bound loopback socket."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(runtime, run_worker=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", runtime)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def make_account(runtime: Runtime, tenant_id: int) -> Callable[[str], int]:
    """Creates a mail account of the default tenant (never connected to); returns its id."""
    from carteiro.accounts import service as accounts
    from carteiro.accounts.schemas import AccountCreate, SmtpIn

    def _make(name: str) -> int:
        data = AccountCreate(
            name=name,
            email=f"{name}@example.com",
            smtp=SmtpIn(host="127.0.0.1", port=2525, security="none"),
        )
        with runtime.db.session() as session:
            return accounts.create(session, tenant_id=tenant_id, data=data, vault=runtime.vault).id

    return _make

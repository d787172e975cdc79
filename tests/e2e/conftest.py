"""End-to-end fixtures: `carteiro serve` (with its worker, or with a separate `carteiro worker`)
on a private database, an account made through the API, and the pipelining SMTP sink."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from e2ekit import (
    RUNNING,
    SMTP_USERS,
    Process,
    child_env,
    free_port,
    private_database,
    wait_until,
)

from carteiro.testing.pipelining_sink import PipeliningSink

EMBEDDED = "serve"
SEPARATE = "serve-no-worker+worker"
_FAILED = pytest.StashKey[bool]()


@dataclass
class Server:
    """A running Carteiro: its URL, first API key, the env its children share, its account."""

    mode: str
    base_url: str
    key: str
    env: dict[str, str]
    cwd: Path
    processes: list[Process] = field(default_factory=list)
    account: str = "sink"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _show_process_output_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.stash.get(_FAILED, False):
        for process in RUNNING:
            print(process.output())


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipeliningSink]:
    """The SMTP server every account delivers to: STARTTLS, AUTH and PIPELINING, on loopback."""
    with PipeliningSink(users=SMTP_USERS, cert_dir=tmp_path_factory.mktemp("certs")) as server:
        yield server


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module", params=[EMBEDDED, SEPARATE])
def server(
    request: pytest.FixtureRequest,
    sink: PipeliningSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[Server]:
    """One Carteiro per mode for the module, as a user starts it, with one SMTP account."""
    mode = request.param
    root = tmp_path_factory.mktemp(mode.replace("+", "-"))
    # An empty working directory: a developer's .env must not reach the children.
    cwd = root / "cwd"
    cwd.mkdir()
    with private_database(root) as database_url:
        env = child_env(database_url, root / "data")
        port = free_port()
        args = ["serve", "--port", str(port)] + (["--no-worker"] if mode == SEPARATE else [])
        serve = Process(args, env=env, cwd=cwd)
        running = Server(mode, f"http://127.0.0.1:{port}", "", env, cwd, [serve])
        try:
            running.key = serve.wait_for_line("API key: ").removeprefix("API key: ")
            serve.wait_for_line("Carteiro listening on ")
            with running.client() as http:
                wait_until(lambda: _healthy(http), 30, f"{mode} to answer /health\n")
                if mode == SEPARATE:
                    running.processes.append(Process(["worker"], env=env, cwd=cwd))
                created = http.post(
                    "/accounts",
                    json={
                        "name": running.account,
                        "email": "sender@example.com",
                        "display_name": "Equipe Carteiro",
                        "smtp": {
                            "host": sink.hostname,
                            "port": sink.port,
                            "security": "starttls",
                            "username": "user",
                            "password": SMTP_USERS["user"],
                            "ca_file": str(sink.cert_path),
                        },
                    },
                )
                assert created.status_code == 201, created.text
            yield running
        except BaseException:
            for process in running.processes:
                print(process.output())
            raise
        finally:
            codes = {p.name: p.stop() for p in reversed(running.processes)}
            # Let the last connections close before PostgreSQL drops the database.
            time.sleep(0.1)
        assert all(code == 0 for code in codes.values()), codes

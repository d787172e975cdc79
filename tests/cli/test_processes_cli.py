"""`carteiro serve`, `carteiro worker` and `carteiro mcp` as real child processes, with signals."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.testing.children import CARTEIRO, CarteiroProcess

Invoke = Callable[..., Result]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., CarteiroProcess]]:
    children: list[CarteiroProcess] = []

    def start(args: list[str], env: dict[str, str]) -> CarteiroProcess:
        child = CarteiroProcess(args, env=env, cwd=tmp_path)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_serve_prints_the_key_sends_in_capture_mode_and_stops_on_sigterm(
    spawn: Callable[..., CarteiroProcess], child_env: dict[str, str], tmp_path: Path, free_port: int
) -> None:
    # Its own SQLite database and data dir, like `make serve` on a fresh machine.
    data = tmp_path / "serve-data"
    env = child_env | {
        "CARTEIRO_DATABASE_URL": f"sqlite:///{data / 'carteiro.db'}",
        "CARTEIRO_DATA_DIR": str(data),
    }
    env.pop("CARTEIRO_SECRET_KEY")
    child = spawn(["serve", "--port", str(free_port)], env)
    key = child.wait_for_line("API key: ").removeprefix("API key: ")
    assert key.startswith("ct_")
    setup_url = child.wait_for_line("Setup: ").removeprefix("Setup: ")
    assert re.fullmatch(rf"http://127\.0\.0\.1:{free_port}/setup/[\w-]{{20,}}", setup_url)
    child.wait_for_line(f"Carteiro listening on http://127.0.0.1:{free_port}")

    base = f"http://127.0.0.1:{free_port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:

        def healthy() -> bool:
            try:
                return http.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 30, "the HTTP listener")
        # The printed link opens the owner's setup page; the console's root leads to login.
        assert http.get(setup_url).status_code == 200
        assert http.get("/", follow_redirects=True).url.path == "/ui/login"
        created = http.post(
            "/emails",
            json={"to_email": "ana@example.com", "subject": "Olá do serve", "body": "corpo"},
        )
        assert created.status_code == 201, created.text
        email_id = created.json()["id"]

        def sent() -> bool:
            status = http.get(f"/emails/{email_id}").json()["status"]
            assert status in ("pending", "sending", "sent"), status
            return status == "sent"

        wait_until(sent, 20, "the embedded worker to send it")
        raw = http.get(f"/emails/{email_id}/raw")
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert message_from_bytes(raw.content, policy=default)["Subject"] == "Olá do serve"

    assert child.stop() == 0, child.stderr()
    assert sum(line.startswith("API key:") for line in child.stdout) == 1
    # Without CARTEIRO_PUBLIC_URL, unsubscribe links point at loopback: said once at start.
    assert child.stderr().count("CARTEIRO_PUBLIC_URL is not set") == 1
    # The secret key was generated into the data dir, owner-only.
    assert (data / "secret.key").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_worker_delivers_and_exits_zero_on_sigterm(
    spawn: Callable[..., CarteiroProcess],
    child_env: dict[str, str],
    cli: Invoke,
    runtime: Runtime,
    api_key: str,
) -> None:
    child = spawn(["worker", "--concurrency", "4"], child_env)
    result = cli(
        "send", "--to", "a@example.com", "--subject", "via worker", "--body", "b", "--wait", "30"
    )
    assert result.exit_code == 0, result.output + child.stderr()
    queued, sent = result.stdout.strip().splitlines()
    email_id = int(queued.split()[1])
    assert sent.startswith(f"sent {email_id} <")
    with runtime.db.session() as session:
        email = session.get(Email, email_id)
        assert email is not None and email.status == "sent"

    assert child.stop() == 0, child.stderr()
    log = child.stderr()
    assert "carteiro worker starting" in log
    assert "carteiro worker stopped" in log
    assert log.count("CARTEIRO_PUBLIC_URL is not set") == 1
    assert child.stdout == []


@pytest.mark.slow
def test_worker_refuses_an_unmigrated_database(child_env: dict[str, str], tmp_path: Path) -> None:
    env = child_env | {"CARTEIRO_DATABASE_URL": f"sqlite:///{tmp_path / 'blank.db'}"}
    done = subprocess.run(
        [*CARTEIRO, "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        "error: the database is not migrated: run carteiro migrate first"
    )


@pytest.mark.slow
def test_mcp_without_a_key_says_so_on_stderr_only(
    child_env: dict[str, str], tmp_path: Path, api_key: str
) -> None:
    done = subprocess.run(
        [*CARTEIRO, "mcp"],
        env=child_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CARTEIRO_API_KEY" in lines[0], done.stderr

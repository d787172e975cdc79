"""Helpers for end-to-end tests: child processes, private databases, waiting for outcomes."""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from carteiro.testing.children import CarteiroProcess
from carteiro.testing.pipelining_sink import PipeliningSink
from carteiro.testing.smtp_server import Received

BACKEND = os.environ.get("CARTEIRO_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# What a user types: the console script installed next to this interpreter.
SCRIPT = Path(sys.executable).with_name("carteiro")
SEND_TIMEOUT = 60.0
FINAL = {"sent", "failed", "dead", "cancelled", "suppressed"}
SMTP_USERS = {"user": "secret"}
# Every live child process, so a failing test can show what they printed.
RUNNING: list[Process] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_database(folder: Path) -> Iterator[str]:
    """An empty database of the suite's backend; `carteiro serve` migrates it on first start."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{folder / 'carteiro.db'}"
        return
    import psycopg

    name = f"carteiro_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Our environment minus any outer Carteiro configuration, plus the test's."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_", "GMAIL_"))
    }
    env.update(
        {
            "CARTEIRO_DATABASE_URL": database_url,
            "CARTEIRO_DATA_DIR": str(data_dir),
            "CARTEIRO_POLL_INTERVAL": "0.2",
            "CARTEIRO_SMTP_TIMEOUT": "10",
            "CARTEIRO_SHUTDOWN_GRACE_SECONDS": "5",
            "CARTEIRO_TRACKING_SETTLE_SECONDS": "0.5",
            "CARTEIRO_TRACKING_POLL_INTERVAL": "0.2",
            "EMAIL_RATE_LIMIT_PER_HOUR": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Process(CarteiroProcess):
    """A `carteiro` child that a failing test lists, with what it printed."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        super().__init__(args, env=env, cwd=cwd)
        RUNNING.append(self)

    def stop(self) -> int:
        if self in RUNNING:
            RUNNING.remove(self)
        return super().stop()


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Calls `check` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_final(http: httpx.Client, email_id: int, timeout: float = SEND_TIMEOUT) -> dict:
    """The message as `GET /emails/{id}` shows it once its status is final."""

    def final() -> dict | None:
        got = http.get(f"/emails/{email_id}")
        assert got.status_code == 200, got.text
        body = got.json()
        return body if body["status"] in FINAL else None

    return wait_until(final, timeout, f"email {email_id} to leave the queue")


def received(sink: PipeliningSink, message_id: str, timeout: float = 10.0) -> Received:
    """The message the sink accepted with this Message-ID."""

    def find() -> Received | None:
        return next((m for m in sink.messages if m.message_id == message_id), None)

    return wait_until(find, timeout, f"the sink to receive {message_id}")

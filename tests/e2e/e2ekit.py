"""Helpers for end-to-end tests: child processes, private databases, waiting for outcomes."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from carteiro.testing.pipelining_sink import PipeliningSink
from carteiro.testing.smtp_server import Received

BACKEND = os.environ.get("CARTEIRO_TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CARTEIRO = [sys.executable, "-m", "carteiro"]
# What a user types: the console script installed next to this interpreter.
SCRIPT = Path(sys.executable).with_name("carteiro")
STOP_TIMEOUT = 30.0
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
            "EMAIL_RATE_LIMIT_PER_HOUR": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Process:
    """A `carteiro` child whose stdout is read on a thread and whose stderr goes to a file."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = " ".join(args)
        self.stderr_path = cwd / f"{args[0]}-{time.monotonic_ns()}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [*CARTEIRO, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        RUNNING.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def output(self) -> str:
        self._stderr.flush()
        err = self.stderr_path.read_text(errors="replace")
        return f"--- {self.name}: stdout ---\n{''.join(self.stdout)}--- stderr ---\n{err}"

    def wait_for_line(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(f"no line starting {prefix!r}\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM and the exit code; killed (and reported) if it does not stop in time."""
        if self in RUNNING:
            RUNNING.remove(self)
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    raise AssertionError(
                        f"still running {STOP_TIMEOUT} s after SIGTERM\n{self.output()}"
                    ) from None
            return self.proc.returncode
        finally:
            self._stderr.close()


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

"""Shared bench helpers: the sink process, peak-RSS sampling, message content, percentiles."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / ".peers"
PY = sys.executable
USER, PASSWORD = "bench", "bench-secret"
PEER_PACKAGES = ["django>=4.2", "django-post-office>=3.8", "py-spy"]
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

_PARAGRAPH = (
    "Olá! Este é o relatório semanal da sua conta, com os pedidos, as entregas e as "
    "faturas em aberto. Confira os detalhes abaixo e responda se algo estiver errado.\n"
)
TEXT_BODY = _PARAGRAPH * 11  # ~1.9 KB
HTML_BODY = "<html><body>" + "".join(f"<p>{_PARAGRAPH}</p>" for _ in range(10)) + "</body></html>"
SUBJECT = "Relatório semanal da sua conta"
SENDER = "remetente@example.com"


def recipient(i: int) -> str:
    return f"cliente{i}@example.org"


def raw_message(i: int, tag: str) -> bytes:
    """The same ~4 KB text+HTML message the peers send, built once per message."""
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = recipient(i)
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = f"<{tag}.{i}@bench.example.com>"
    msg.set_content(TEXT_BODY)
    msg.add_alternative(HTML_BODY, subtype="html")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- peak RSS -------------------------------------------------------------------------


def _proc_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a wrapper script's child is the real process)."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += _tree(int(child))
    return found


class RssSampler:
    """Tracks the peak RSS (MB) of processes while they run: the kernel's high-water mark."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_kb: dict[int, int] = {}
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int) -> None:
        self._pids.append(pid)
        self.sample()

    def sample(self) -> None:
        for root in list(self._pids):
            for pid in _tree(root):
                kb = max(_proc_kb(pid, "VmHWM"), _proc_kb(pid, "VmRSS"))
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), kb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def max_mb(self) -> float:
        return max(self.peak_kb.values(), default=0) / 1024


# -- the sink, in a process of its own so no bench thread competes with it for the GIL ----


class SinkProcess:
    """The pipelining sink (STARTTLS + AUTH) behind one latency proxy per round trip.

    It runs `bench/sink_server.py` as a subprocess and talks to it in JSON lines.
    """

    def __init__(self, rtts: list[float], **faults: Any) -> None:
        self.log = Path(tempfile.mkstemp(prefix="bench-sink-", suffix=".log")[1])
        cmd = [PY, str(BENCH / "sink_server.py"), json.dumps({"rtts": rtts, "faults": faults})]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            text=True,
        )
        info = self._read()
        self.sink_port: int = info["sink_port"]
        self.ports: dict[float, int] = {float(k): v for k, v in info["ports"].items()}
        self.cert: str = info["cert"]
        self.pid = self._proc.pid

    def _read(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sink process exited; see {self.log}")
        return json.loads(line)

    def _call(self, command: str, arg: Any = None) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps([command, arg]) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, int]:
        return self._call("stats")

    def message_ids(self) -> list[str]:
        return self._call("ids")

    def clear(self) -> None:
        self._call("clear")

    def set(self, **values: Any) -> None:
        self._call("set", values)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self._call("stop")
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_count(sink: SinkProcess, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sink.stats()["count"] >= count:
            return True
        time.sleep(0.1)
    return False


# -- the peers' virtual environment ---------------------------------------------------


def ensure_peers() -> Path:
    """bench/.peers: a venv of its own for the peers, so the product's stays clean."""
    python = PEERS / "bin" / "python"
    marker = PEERS / ".installed"
    if not marker.exists():
        print("creating bench/.peers (first run only) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
        marker.write_text("\n".join(PEER_PACKAGES) + "\n")
    return python


# -- a minimal HTTP/1.1 load client and `carteiro serve` on a throwaway database -------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its reply in full: a
    load client small enough to be the cheapest side of a measurement (httpx spends more CPU
    per request than a bare Starlette endpoint does)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: Any = None
        self.writer: Any = None

    async def open(self) -> None:
        import asyncio

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> int:
        import re

        await self.open()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length:
            await self.reader.readexactly(int(length.group(1)))
        if re.search(rb"(?im)^connection:\s*close", head):
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} is not answering")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """`carteiro serve` (uvloop, with its worker unless `worker` is False) on a throwaway
    SQLite file or PostgreSQL database; `key` is the API key it printed."""

    def __init__(self, db: str, *, worker: bool = True, env: dict[str, str] | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="carteiro-bench-serve-"))
        self.pg_name: str | None = None
        if db == "postgresql":
            import psycopg

            self.pg_name = f"carteiro_bench_{os.getpid()}_{os.urandom(3).hex()}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.url = f"sqlite:///{self.tmp / 'carteiro.db'}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
        environ.update(
            CARTEIRO_DATABASE_URL=self.url,
            CARTEIRO_DATA_DIR=str(self.tmp / "data"),
            CARTEIRO_SECRET_KEY="bench-secret-key",
            CARTEIRO_PUBLIC_URL=self.base,
            CARTEIRO_PORT=str(self.port),
            CARTEIRO_LOG_LEVEL="WARNING",
            EMAIL_RATE_LIMIT_PER_HOUR="0",
            **(env or {}),
        )
        self.log = self.tmp / "serve.log"
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "carteiro"), "serve", "--port", str(self.port)]
            + ([] if worker else ["--no-worker"]),
            cwd=self.tmp,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
        )
        self.key = self._read_key()
        # Keep reading what it prints: a full pipe would block the server's event loop.
        threading.Thread(target=self._read_rest, daemon=True).start()
        wait_http(self.base + "/health")

    def _read_key(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("API key: "):
                return line.split(": ", 1)[1].strip()
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"carteiro serve did not start; see {self.log}")

    def _read_rest(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it (a graceful shutdown); its exit code."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self) -> None:
        import shutil

        self.stop()
        if self.pg_name is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

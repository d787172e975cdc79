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

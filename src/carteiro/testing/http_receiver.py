"""A real HTTP server on loopback that records POSTs and fails on demand (webhook tests)."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    received_at: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = self.server.receiver._next_status()
        self.server.receiver._record(
            Request(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                status=status,
                received_at=time.time(),
            )
        )
        payload = b"ok" if status < 300 else b"failing on purpose"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return  # tests read `requests` instead of stderr noise


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver


class HttpReceiver:
    """Answers 200 unless told otherwise: `script([500, 503, 200])` answers those codes in order,
    `fail_rate` fails that share of requests at random (seeded, so runs repeat)."""

    def __init__(self, host: str = "127.0.0.1", *, fail_rate: float = 0.0, seed: int = 7) -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.receiver = self
        self.host = host
        self.port = self._server.server_address[1]
        self.fail_rate = fail_rate
        self.fail_status = 500
        self._random = random.Random(seed)
        self._script: deque[int] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def script(self, statuses: list[int]) -> None:
        with self._lock:
            self._script.extend(statuses)

    def _next_status(self) -> int:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.fail_rate and self._random.random() < self.fail_rate:
                return self.fail_status
            return 200

    def _record(self, request: Request) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout: float = 15.0) -> bool:
        """Waits until `predicate(requests)` holds; False on time-out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self._requests)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def start(self) -> HttpReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""Serves an ASGI app under real uvicorn on a free loopback port, on a thread of its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


def loopback_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port, for an app that must know its own
    address before it is built (OAuth metadata names it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_in_thread(
    app: ASGIApp, *, start_timeout: float = 20.0, sock: socket.socket | None = None
) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`) while uvicorn serves `app`.

    A real server, not a test client: requests run concurrently in its thread pool and bodies
    arrive as the network delivers them (chunked, cut short)."""
    sock = sock or loopback_socket()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()

"""Request body limits: refused on Content-Length unread, cut off while streaming, before auth."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from carteiro.api.app import create_app
from carteiro.api.body_limit import BodyLimit, RouteLimit
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import serve_in_thread

LIMIT = 256 * 1024
CHUNK = 64 * 1024


class Reader:
    """A tiny ASGI app that reads the whole body, then answers 200 with its size."""

    def __init__(self) -> None:
        self.bytes_read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise OSError("client went away")
            self.bytes_read += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.bytes_read).encode()})


def drive(
    app: BodyLimit, *, path: str, chunks: int, content_length: int | None = None
) -> tuple[list[Message], int]:
    """Sends `chunks` chunks of CHUNK bytes; returns what was sent back and how many chunks
    the middleware pulled from the client."""
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < chunks}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent, pulled


def _status_and_body(sent: list[Message]) -> tuple[int, dict | str]:
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body) if status == 413 else body.decode()


def test_middleware_passes_bodies_within_the_limit() -> None:
    inner = Reader()
    sent, pulled = drive(BodyLimit(inner, default=LIMIT), path="/x", chunks=4)
    assert _status_and_body(sent) == (200, str(4 * CHUNK)) and pulled == 4


def test_middleware_stops_a_stream_at_the_limit() -> None:
    inner = Reader()
    sent, pulled = drive(BodyLimit(inner, default=LIMIT), path="/x", chunks=1000)
    status, body = _status_and_body(sent)
    assert status == 413 and body["error"] == "too_large" and body["field"] == "body"
    assert pulled == LIMIT // CHUNK + 1  # the chunk that passed the limit was the last read
    assert inner.bytes_read == LIMIT
    assert (b"connection", b"close") in sent[0]["headers"]


def test_middleware_refuses_a_declared_length_without_reading() -> None:
    inner = Reader()
    app = BodyLimit(inner, default=LIMIT)
    sent, pulled = drive(app, path="/x", chunks=1000, content_length=10**9)
    assert _status_and_body(sent)[0] == 413 and pulled == 0 and inner.bytes_read == 0


def test_middleware_limits_are_per_route() -> None:
    app = BodyLimit(
        Reader(), default=LIMIT, routes=[RouteLimit("POST", "/big/{item_id}/up", 8 * LIMIT)]
    )
    assert app.limit_for("POST", "/big/7/up") == 8 * LIMIT
    assert app.limit_for("GET", "/big/7/up") == LIMIT
    assert app.limit_for("POST", "/big/7/up/more") == LIMIT
    sent, _ = drive(app, path="/big/7/up", chunks=10)
    assert _status_and_body(sent) == (200, str(10 * CHUNK))
    sent, _ = drive(app, path="/big/7", chunks=10)
    assert _status_and_body(sent)[0] == 413


@pytest.fixture
def small_limits(runtime: Runtime) -> Runtime:
    runtime.settings = runtime.settings.model_copy(
        update={
            "max_request_bytes": LIMIT,
            "max_mail_request_bytes": 2 * LIMIT,
            "max_upload_request_bytes": 4 * LIMIT,
        }
    )
    return runtime


def test_app_limits_per_route_in_the_error_shape(small_limits: Runtime, api_key: str) -> None:
    app = create_app(small_limits, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        padding = "x" * (LIMIT + 10)
        r = client.post("/accounts", json={"name": padding})
        assert r.status_code == 413
        assert r.json() == {
            "error": "too_large",
            "message": f"body: the request body is larger than {LIMIT} bytes",
            "field": "body",
        }
        # Mail may be larger: the same size reaches validation there.
        mail = {"to_email": "a@example.com", "subject": "s", "body": padding}
        assert client.post("/emails", json=mail).status_code == 201
        too_big = {**mail, "body": "x" * (2 * LIMIT)}
        assert client.post("/emails", json=too_big).status_code == 413
        upload = client.post(
            "/ingest/leads/xlsx",
            files={"file": ("leads.csv", b"email\n" + b"a@example.com\n" * (LIMIT // 14))},
        )
        assert upload.status_code == 202, upload.text
        assert client.get("/emails").json()["total"] == 1


@pytest.fixture
def server(small_limits: Runtime) -> Iterator[int]:
    """The real app under uvicorn on a free loopback port."""
    with serve_in_thread(create_app(small_limits, run_worker=False)) as base:
        yield int(base.rsplit(":", 1)[1])


def _status_line(conn: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        part = conn.recv(4096)
        if not part:
            break
        data += part
    return data.split(b"\r\n", 1)[0].decode()


def test_a_chunked_body_without_a_key_is_cut_off(server: int) -> None:
    """A large body sent as chunks with no key: the server answers 413 once the limit passes,
    instead of reading it all before its 401."""
    total = 64 * 1024 * 1024
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        status: list[str] = []
        reader = threading.Thread(target=lambda: status.append(_status_line(conn)))
        reader.start()
        conn.sendall(
            b"POST /emails HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        try:
            while sent < total and not status:
                conn.sendall(chunk)
                sent += CHUNK
        except OSError:
            pass  # the server closed the connection after its answer
        reader.join(timeout=30)
    assert status == ["HTTP/1.1 413 Request Entity Too Large"]
    assert sent < total


def test_a_declared_length_over_the_limit_is_refused_unread(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        conn.sendall(
            b"POST /emails HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 419430400\r\n\r\n"
        )
        # Not one byte of the body is sent: the answer comes from the headers alone.
        assert _status_line(conn) == "HTTP/1.1 413 Request Entity Too Large"

"""A fast SMTP sink that can pipeline (RFC 2920), requires STARTTLS and AUTH, and injects faults."""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from carteiro.testing.certs import make_self_signed_cert
from carteiro.testing.loop_thread import LoopThread
from carteiro.testing.sink_connection import serve_connection
from carteiro.testing.sink_session import DROP
from carteiro.testing.smtp_server import Received

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*((?:[^\r\n]*)(?:\r\n[ \t]+[^\r\n]*)*)")


def _message_id(body: bytes) -> str | None:
    end = body.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(body if end < 0 else body[: end + 2])
    if match is None:
        return None
    return b" ".join(match.group(1).split()).decode("utf-8", "replace") or None


class PipeliningSink:
    """An SMTP server on a thread of its own, written for speed and for pipelined clients.

    Usage mirrors `SmtpSink`: ``with PipeliningSink(users={"u": "p"}) as sink: ...`` then
    connect to ``sink.hostname:sink.port`` and trust ``sink.cert_path``.

    It records whether a client pipelined (sent more than one command before the server
    replied) and counts reply flushes (`round_trips`), so a test can see how many times a
    client waited for the server per message.

    Fault injection, read at the moment it is needed (set attributes, or use `script`):

    - ``script(replies)``: final replies for the next messages (``"drop"`` resets the
      connection, ``"delay:SECONDS"`` waits then accepts, a 421 closes after replying).
    - ``fail_share`` of messages get a reply drawn from ``fail_replies`` and
      ``drop_share`` of messages lose their connection before any reply (seeded random).
    - ``mail_reply`` / ``data_reply`` answer every MAIL / DATA command with that reply.
    - ``rcpt_rejects`` maps an address (case-insensitive) to the reply its RCPT gets.
    """

    def __init__(
        self,
        *,
        hostname: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, str] | None = None,
        pipelining: bool = True,
        tls: bool = True,
        require_tls: bool = True,
        max_size: int = 35 * 1024 * 1024,
        keep_data: bool = True,
        cert_dir: Path | None = None,
        seed: int = 0,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.users = users
        self.pipelining = pipelining
        self.require_tls = require_tls
        self.max_size = max_size
        self.keep_data = keep_data
        self.mail_reply: str | None = None
        self.data_reply: str | None = None
        self.rcpt_rejects: dict[str, str] = {}
        self.fail_share = 0.0
        self.fail_replies: tuple[str, ...] = (
            "451 4.3.0 Temporary local problem, try again",
            "421 4.7.0 Too busy, closing connection",
        )
        self.drop_share = 0.0
        self.connections = 0
        self.pipelined_connections = 0
        self.round_trips = 0
        self.auth_attempts = 0
        self.logins = 0
        self.faults = 0
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.tls_context: ssl.SSLContext | None = None
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[Received] = []
        self._count = 0
        self._script: list[str] = []
        self._runner = LoopThread("pipelining-sink")
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if tls:
            if cert_dir is None:
                self._tmpdir = tempfile.TemporaryDirectory(prefix="pipesink-")
                cert_dir = Path(self._tmpdir.name)
            names = tuple(dict.fromkeys(("localhost", "127.0.0.1", hostname)))
            self.cert_path, self.key_path = make_self_signed_cert(cert_dir, names)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_path, self.key_path)
            self.tls_context = context

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> PipeliningSink:
        """Bind and serve on a new thread; afterwards `.port` is the real port."""
        self.port = self._runner.start(
            lambda: asyncio.start_server(self._serve, self.hostname, self.port, backlog=1024)
        )
        return self

    def stop(self) -> None:
        """Stop serving; open client connections are cut."""

        async def shutdown() -> None:
            if self._runner.server is not None:
                self._runner.server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._runner.stop(shutdown)

    def __enter__(self) -> PipeliningSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests and benchmarks read ------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        """A snapshot of the messages accepted so far, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def client_pipelined(self) -> bool:
        """Whether any client sent several commands before the server replied."""
        with self._lock:
            return self.pipelined_connections > 0

    def message_ids(self) -> list[str]:
        """Message-ID headers (as sent) of the accepted messages that had one."""
        return [m.message_id for m in self.messages if m.message_id is not None]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least `count` messages were accepted; False if `timeout` ran out."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._count >= count, timeout)

    def clear(self) -> None:
        """Forget accepted messages and counters (not the script or fault settings)."""
        with self._lock:
            self._messages.clear()
            self._count = 0
            self.round_trips = 0
            self.connections = 0
            self.pipelined_connections = 0

    def script(self, replies: Iterable[str]) -> None:
        """Queue final replies for the next messages, one each."""
        with self._lock:
            self._script.extend(replies)

    def close_connections(self) -> None:
        """Close every open client connection from the server side, like an idle timeout."""
        if self._runner.loop is None:
            return

        async def close_all() -> None:
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._runner.loop).result(5.0)

    # -- called by sessions (server thread) ---------------------------------------------

    def _login(self, user: bytes | None, password: bytes | None) -> bool:
        users = self.users or {}
        name = user.decode("utf-8", "replace") if user is not None else None
        ok = (
            name in users
            and password is not None
            and users[name] == password.decode("utf-8", "replace")
        )
        with self._lock:
            self.auth_attempts += 1
            self.logins += int(ok)
        return ok

    def _rcpt_reject(self, address: str) -> str | None:
        if not self.rcpt_rejects:
            return None
        return {k.lower(): v for k, v in self.rcpt_rejects.items()}.get(address.lower())

    def _verdict(self) -> str | None:
        """The final reply for the next message: None accepts it."""
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self.drop_share and self._random.random() < self.drop_share:
                self.faults += 1
                return DROP
            if self.fail_share and self._random.random() < self.fail_share:
                self.faults += 1
                return self._random.choice(self.fail_replies)
        return None

    def _record(self, mail_from: str, rcpt_tos: list[str], body: bytes, peer: object) -> None:
        received = Received(
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            data=body if self.keep_data else b"",
            message_id=_message_id(body),
            peer=peer,
            received_at=time.time(),
        )
        with self._arrived:
            self._messages.append(received)
            self._count += 1
            self._arrived.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self, reader, writer)

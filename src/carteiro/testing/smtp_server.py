"""A real in-process SMTP server (aiosmtpd) that records messages and injects faults on demand."""

from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from carteiro.testing.certs import make_self_signed_cert

Security = Literal["starttls", "ssl", "none"]

log = logging.getLogger(__name__)


def _not_login_data_deprecation(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Session.login_data is deprecated")


# aiosmtpd logs this on every successful AUTH through its own code path; it is pure noise
# in test and benchmark output.
logging.getLogger("mail.log").addFilter(_not_login_data_deprecation)


@dataclass
class Received:
    """One message the sink accepted (a 2xx reply after DATA)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    # The Message-ID header exactly as sent (angle brackets included), if there was one.
    message_id: str | None
    peer: Any
    received_at: float


class _SinkController(Controller):
    """Controller that binds port 0 properly and lets the sink see every connection."""

    def __init__(self, sink: SmtpSink, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        server: SMTP = super().factory()  # type: ignore[no-untyped-call]  # unannotated in aiosmtpd
        if self._sink.security != "starttls":
            # aiosmtpd only counts STARTTLS as "TLS" for AUTH, so implicit TLS would never
            # advertise AUTH; plain mode is a deliberate test setup. Setting it after
            # construction avoids aiosmtpd's "AUTH without TLS" warning.
            server._auth_require_tls = False
        self._sink._connection_made(server)
        lost = server.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            self._sink._connection_lost()
            lost(exc)

        server.connection_lost = connection_lost  # type: ignore[method-assign,assignment]  # per instance
        return server

    def _trigger_server(self) -> None:
        # aiosmtpd's readiness probe connects to self.port, which is still 0 when the OS picked it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # unannotated in aiosmtpd


class _Handler:
    """aiosmtpd hooks: RCPT rejections, DATA faults and recording."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        rejects = {k.lower(): v for k, v in self.sink.rcpt_rejects.items()}
        if address.lower() in rejects:
            return rejects[address.lower()]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.delay_seconds > 0:
            await asyncio.sleep(self.sink.delay_seconds)
        reply = self.sink._next_reply()
        if reply == "drop":
            # abort() resets the socket under any TLS layer; aiosmtpd then cancels this
            # handler from connection_lost, so the wait below ends the session.
            cast(asyncio.WriteTransport, server.transport).abort()
            await asyncio.get_running_loop().create_future()
        if reply is not None and reply.startswith("delay:"):
            await asyncio.sleep(float(reply.split(":", 1)[1]))
            reply = None
        if reply is None:
            reply = "250 OK"
        if reply.startswith("2"):
            self.sink._record(envelope, session)
        return reply

    async def handle_exception(self, error: Exception) -> str:
        # A client abandoning the STARTTLS handshake (say, it distrusts the test certificate)
        # is an outcome tests provoke on purpose, not a fault worth a traceback.
        if not isinstance(error, TLSSetupException):
            log.exception("SMTP session exception")
        return f"500 Error: ({type(error).__name__}) {error}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        return self.sink._authenticate(auth_data)


class SmtpSink:
    """An SMTP server on a thread of its own, for sync and async tests alike.

    Usage: ``with SmtpSink(users={"u": "p"}) as sink: ...`` then connect to
    ``sink.hostname:sink.port`` and trust ``sink.cert_path``.

    Fault injection (all thread-safe, read by the server at the moment it needs them):

    - ``script(replies)`` queues replies consumed one per DATA: a ``2xx`` entry accepts
      and records the message, any other reply is sent and the message is NOT recorded,
      ``"drop"`` resets the connection without replying, ``"delay:SECONDS"`` waits that
      long then accepts.
    - ``default_reply`` is used when the script is empty (``None`` = ``250 OK``).
    - ``rcpt_rejects`` maps an address (case-insensitive) to the reply its RCPT TO gets.
    - ``delay_seconds`` sleeps before every DATA reply, scripted or not.
    """

    def __init__(
        self,
        *,
        hostname: str = "127.0.0.1",
        port: int = 0,
        security: Security = "starttls",
        users: dict[str, str] | None = None,
        require_starttls: bool = True,
        cert_dir: Path | None = None,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.security: Security = security
        self.users = users
        self.default_reply: str | None = None
        self.rcpt_rejects: dict[str, str] = {}
        self.delay_seconds: float = 0.0
        self.connections = 0
        # Connections open right now, and the most that were ever open at once.
        self.open_connections = 0
        self.peak_connections = 0
        self.auth_attempts = 0
        self.logins = 0
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[Received] = []
        self._script: deque[str] = deque()
        # Only touched from the server thread; dead sessions vanish on their own.
        self._servers: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._controller: _SinkController | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

        tls_context: ssl.SSLContext | None = None
        if security != "none":
            if cert_dir is None:
                self._tmpdir = tempfile.TemporaryDirectory(prefix="smtpsink-")
                cert_dir = Path(self._tmpdir.name)
            names = ("localhost", "127.0.0.1", hostname)
            self.cert_path, self.key_path = make_self_signed_cert(
                cert_dir, tuple(dict.fromkeys(names))
            )
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(self.cert_path, self.key_path)
        handler = _Handler(self)
        self._controller_kwargs: dict[str, Any] = {
            "hostname": hostname,
            "server_hostname": hostname,  # otherwise aiosmtpd resolves the FQDN per connection
            "ssl_context": tls_context if security == "ssl" else None,
            "tls_context": tls_context if security == "starttls" else None,
            "require_starttls": security == "starttls" and require_starttls,
            "auth_required": users is not None,
            "auth_require_tls": True,
            "authenticator": handler.authenticate,
        }
        self._handler = handler

    def start(self) -> SmtpSink:
        """Bind and serve; afterwards `.port` is the real port."""
        if self._controller is not None:
            raise RuntimeError("SmtpSink already started")
        controller = _SinkController(self, self._handler, port=self.port, **self._controller_kwargs)
        controller.start()
        self._controller = controller
        self.port = controller.port
        with self._lock:
            # The controller's own readiness probe is not a client connection.
            self.connections = 0
        return self

    def stop(self) -> None:
        """Stop serving; open client connections are cut."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[Received]:
        """A snapshot of the messages accepted so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def message_ids(self) -> list[str]:
        """Message-ID headers (as sent) of the accepted messages that had one."""
        return [m.message_id for m in self.messages if m.message_id is not None]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least `count` messages were accepted; False if `timeout` ran out."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._messages) >= count, timeout)

    def clear(self) -> None:
        """Forget the accepted messages (the script and counters are kept)."""
        with self._lock:
            self._messages.clear()

    def script(self, replies: list[str]) -> None:
        """Queue replies for the next DATA commands, one each, after any already queued."""
        with self._lock:
            self._script.extend(replies)

    def close_connections(self) -> None:
        """Close every open client connection from the server side, like an idle timeout."""
        controller = self._controller
        if controller is None:
            return
        done = threading.Event()

        def close_all() -> None:
            for server in list(self._servers):
                if server.transport is not None:
                    server.transport.close()
            done.set()

        controller.loop.call_soon_threadsafe(close_all)
        done.wait(5.0)

    def _connection_made(self, server: SMTP) -> None:
        with self._lock:
            self.connections += 1
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
        self._servers.add(server)

    def _connection_lost(self) -> None:
        with self._lock:
            self.open_connections -= 1

    def _next_reply(self) -> str | None:
        with self._lock:
            return self._script.popleft() if self._script else self.default_reply

    def _authenticate(self, auth_data: Any) -> AuthResult:
        with self._lock:
            self.auth_attempts += 1
        if isinstance(auth_data, LoginPassword) and self.users is not None:
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if login in self.users and self.users[login] == password:
                with self._lock:
                    self.logins += 1
                return AuthResult(success=True, auth_data=auth_data)
        # handled=False makes aiosmtpd send its standard "535 5.7.8" reply.
        return AuthResult(success=False, handled=False)

    def _record(self, envelope: Envelope, session: Session) -> None:
        data = envelope.original_content or b""
        message_id = BytesHeaderParser().parsebytes(data).get("Message-ID")
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            message_id=str(message_id).strip() if message_id is not None else None,
            peer=session.peer,
            received_at=time.time(),
        )
        with self._arrived:
            self._messages.append(received)
            self._arrived.notify_all()

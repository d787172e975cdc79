"""SMTP transport: delivers raw messages over a small pool of reused, pipelined connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, cast

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
)

from carteiro import network
from carteiro.mail.transports.base import DeliveryError, SendResult, TemporaryFailure
from carteiro.mail.transports.pipelining import Envelope, PipelinedConnection
from carteiro.mail.transports.smtp_errors import classify_open, classify_send

Security = Literal["starttls", "ssl", "none"]
# The error type of a connection refused before it is made (CARTEIRO_ACCOUNTS_ALLOW_PRIVATE).
BLOCKED_HOST = "blocked_host"

_SECURITY_LABEL: dict[str, str] = {
    "starttls": "STARTTLS",
    "ssl": "implicit TLS",
    "none": "an unencrypted connection",
}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach one SMTP submission server."""

    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 30.0
    max_connections: int = 2
    local_hostname: str | None = None
    # Use RFC 2920 PIPELINING when the server offers it (one round trip for the envelope).
    pipelining: bool = True
    # False: refuse hosts that resolve to loopback, private or other non-global addresses.
    allow_private: bool = True


@dataclass
class _Pooled:
    client: aiosmtplib.SMTP
    last_used: float
    generation: int
    # Set when the server pipelines: the connection's reads and writes then go through it.
    pipe: PipelinedConnection | None = None

    @property
    def connected(self) -> bool:
        return self.pipe.is_connected if self.pipe is not None else self.client.is_connected


# Failures after which a pipelined session is still in step with the server.
_CLEAN_FAILURES = (SMTPResponseException, SMTPRecipientsRefused, SMTPNotSupported, ValueError)


def _abort(transport: asyncio.BaseTransport | None) -> None:
    # Every transport aiosmtplib opens is a stream with abort(); uvloop's do not subclass
    # asyncio.WriteTransport, so an isinstance check would skip them.
    if transport is not None:
        cast(asyncio.WriteTransport, transport).abort()


def _discard(client: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None) -> None:
    """Drop a connection at once; a graceful TLS shutdown with a broken peer can linger.

    `transport` is the one seen before the failure: aiosmtplib forgets its own when it
    closes after a timeout or disconnect.
    """
    _abort(transport)
    _abort(client.transport)
    client.close()


@dataclass
class _Job:
    """One send waiting for, or riding on, a connection."""

    sender: str
    recipients: list[str]
    raw: bytes
    started: float
    future: asyncio.Future[SendResult]


class SmtpTransport:
    """Sends through up to `max_connections` kept-open connections, bound to one event loop.

    A send never resends on its own: once DATA may have reached the server, only the
    caller's retry policy can decide whether a second attempt is acceptable.
    """

    name = "smtp"

    def __init__(self, config: SmtpConfig, *, idle_check_seconds: float = 10.0) -> None:
        if config.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.config = config
        self.idle_check_seconds = idle_check_seconds
        self.connections_opened = 0
        self._limit = config.max_connections
        # Sends wait here; up to `_limit` runners, each on one connection, take them in order.
        self._jobs: deque[_Job] = deque()
        self._runners = 0
        self._in_use = 0
        # LIFO: the most recently used connection is the least likely to have timed out.
        self._idle: list[_Pooled] = []
        self._generation = 0
        self._local_hostname = config.local_hostname
        self._tls_context: ssl.SSLContext | None = None

    @property
    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # -- public API --------------------------------------------------------------------

    async def send(self, *, sender: str, recipients: list[str], raw: bytes) -> SendResult:
        """Deliver `raw` to the envelope; raises TemporaryFailure or PermanentFailure."""
        job = _Job(
            sender, recipients, raw, time.monotonic(), asyncio.get_running_loop().create_future()
        )
        self._jobs.append(job)
        self._spawn()
        try:
            return await job.future
        except asyncio.CancelledError:
            # Not started yet: it must not go out after its caller gave up on it.
            with contextlib.suppress(ValueError):
                self._jobs.remove(job)
            raise

    @property
    def limit(self) -> int:
        return self._limit

    async def set_limit(self, connections: int) -> None:
        """How many connections may be open from now on (the slots a worker holds); idle
        ones beyond it are closed at once, busy ones when their send ends."""
        connections = max(0, min(connections, self.config.max_connections))
        if connections == self._limit:
            return
        self._limit = connections
        self._spawn()
        spare = max(0, self._limit - self._in_use)
        if len(self._idle) > spare:
            # The least recently used go first (the list is LIFO).
            surplus = self._idle[: len(self._idle) - spare]
            self._idle = self._idle[len(self._idle) - spare :]
            await asyncio.gather(*(self._quit(conn.client, conn.pipe) for conn in surplus))

    async def check_login(self) -> str:
        """Connect, negotiate TLS, log in and QUIT; describe what worked or raise DeliveryError."""
        client = await self._open(time.monotonic())
        await self._quit(client)
        how = _SECURITY_LABEL[self.config.security]
        if self.config.username is None:
            return f"connected to {self._where} over {how} (no login configured)"
        return f"logged in to {self._where} as {self.config.username} over {how}"

    async def close(self) -> None:
        """QUIT every idle connection; connections in use are closed when their send ends."""
        self._generation += 1
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn.client, conn.pipe) for conn in idle))

    # -- runners -----------------------------------------------------------------------

    def _spawn(self) -> None:
        """One runner per waiting send, up to the connection limit."""
        while self._jobs and self._runners < min(self._limit, len(self._jobs) + self._in_use):
            self._runners += 1
            asyncio.get_running_loop().create_task(self._run())

    def _next_job(self) -> _Job | None:
        while self._jobs and self._in_use <= self._limit:
            job = self._jobs.popleft()
            if not job.future.done():
                return job
        return None

    async def _run(self) -> None:
        try:
            while (job := self._next_job()) is not None:
                try:
                    conn = await self._checkout(job.started)
                except BaseException as exc:
                    self._fail(job, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self._in_use += 1
                try:
                    if conn.pipe is not None:
                        keep = await self._serve_pipelined(conn, job)
                    else:
                        keep = await self._serve(conn, job)
                finally:
                    self._in_use -= 1
                if keep:
                    self._checkin(conn)
                else:
                    _discard(conn.client, conn.client.transport)
        finally:
            self._runners -= 1
            # A send may have arrived while this runner was on its way out.
            self._spawn()

    async def _serve(self, conn: _Pooled, job: _Job | None) -> bool:
        """aiosmtplib's sequential path, one message after another on the connection."""
        while job is not None:
            transport = conn.client.transport
            try:
                options = self._mail_options(conn, job.sender, job.recipients, job.raw)
                refused, reply = await conn.client.sendmail(
                    job.sender, job.recipients, job.raw, mail_options=options
                )
            except BaseException as exc:
                _discard(conn.client, transport)
                self._fail(job, exc)
                if not isinstance(exc, Exception):
                    raise
                return False
            self._succeed(job, refused, reply)
            job = self._next_job() if conn.connected else None
        return conn.connected

    async def _serve_pipelined(self, conn: _Pooled, job: _Job) -> bool:
        """RFC 2920 across messages: while one message's body is written, the next one's
        envelope follows it, so a busy connection spends one round trip per message."""
        pipe = conn.pipe
        assert pipe is not None
        current: _Job | None = job
        following: _Job | None = None
        envelope = self._begin(conn, job, spare=False)
        try:
            while current is not None:
                if envelope is None:
                    # `current` failed before anything of it was written: take the next one.
                    current = self._next_job() if pipe.in_sync else None
                    envelope = self._begin(conn, current, spare=False) if current else None
                    continue
                try:
                    refused = await pipe.accept(envelope)
                except Exception as exc:
                    self._fail(current, exc)
                    if not (pipe.in_sync and isinstance(exc, _CLEAN_FAILURES)):
                        return False
                    envelope = None
                    continue
                with pipe.corked():
                    try:
                        pipe.write_body(envelope)
                    except Exception as exc:
                        self._fail(current, exc)
                        return False
                    following = self._next_job()
                    after = self._begin(conn, following, spare=True) if following else None
                try:
                    await pipe.drain()
                    reply = await pipe.finish()
                except Exception as exc:
                    self._fail(current, exc)
                    if not (pipe.in_sync and isinstance(exc, _CLEAN_FAILURES)):
                        if following is not None and after is not None:
                            # Only its envelope went out, never its message: another
                            # connection can send it as if nothing had happened.
                            self._requeue(following)
                        following = None
                        return False
                else:
                    self._succeed(current, refused, reply)
                current, envelope, following = following, after, None
        except BaseException:
            for item in (current, following):
                if item is not None and not item.future.done():
                    item.future.cancel()
            raise
        return pipe.in_sync and conn.connected

    def _begin(self, conn: _Pooled, job: _Job, *, spare: bool) -> Envelope | None:
        """Writes the job's envelope, or fails the job if it cannot be sent at all."""
        pipe = conn.pipe
        assert pipe is not None
        if spare and not pipe.is_connected:
            # Taken on the way: nothing of it was written, so another connection takes it.
            pipe.in_sync = False
            self._requeue(job)
            return None
        try:
            options = self._mail_options(conn, job.sender, job.recipients, job.raw)
            return pipe.begin(job.sender, job.recipients, job.raw, mail_options=options)
        except Exception as exc:
            self._fail(job, exc)
            return None

    def _requeue(self, job: _Job) -> None:
        self._jobs.appendleft(job)
        self._spawn()

    def _succeed(self, job: _Job, refused: dict[str, SMTPResponse], reply: str) -> None:
        if job.future.done():
            return
        job.future.set_result(
            SendResult(
                # aiosmtplib raises unless the reply to the message body is exactly 250.
                code=250,
                reply=reply,
                duration=time.monotonic() - job.started,
                refused={addr: (r.code, r.message) for addr, r in refused.items()},
            )
        )

    def _fail(self, job: _Job, exc: BaseException) -> None:
        if job.future.done():
            return
        if not isinstance(exc, Exception):
            job.future.cancel()
            return
        if isinstance(exc, DeliveryError):
            job.future.set_exception(exc)
            return
        classified = self._classify_send(exc, job.started) if isinstance(exc, Exception) else None
        if classified is None:
            job.future.set_exception(exc)
            return
        classified.__cause__ = exc
        job.future.set_exception(classified)

    # -- pool --------------------------------------------------------------------------

    async def _checkout(self, started: float) -> _Pooled:
        while self._idle:
            conn = self._idle.pop()
            transport = conn.client.transport
            if await self._usable(conn):
                return conn
            _discard(conn.client, transport)
        client = await self._open(started)
        pipe = None
        if self.config.pipelining and client.supports_extension("pipelining"):
            pipe = PipelinedConnection(client, timeout=self.config.timeout)
        return _Pooled(client, time.monotonic(), self._generation, pipe)

    def _checkin(self, conn: _Pooled) -> None:
        over = self._in_use + len(self._idle) >= self._limit
        if conn.generation != self._generation or not conn.connected or over:
            _discard(conn.client, None)
            return
        conn.last_used = time.monotonic()
        self._idle.append(conn)

    async def _usable(self, conn: _Pooled) -> bool:
        """False for a connection the server has closed, so it never costs a send attempt."""
        if not conn.connected:
            return False
        if time.monotonic() - conn.last_used < self.idle_check_seconds:
            return True
        try:
            if conn.pipe is not None:
                await conn.pipe.noop()
            else:
                await conn.client.noop(timeout=min(self.config.timeout, 10.0))
        except (SMTPException, OSError):
            return False
        return True

    async def _quit(self, client: aiosmtplib.SMTP, pipe: PipelinedConnection | None = None) -> None:
        transport = client.transport
        try:
            if pipe is not None:
                async with asyncio.timeout(min(self.config.timeout, 5.0)):
                    await pipe.quit()
            else:
                await client.quit(timeout=min(self.config.timeout, 5.0))
        except (SMTPException, OSError, TimeoutError):
            pass
        finally:
            # After QUIT there is nothing left to say, and waiting for the peer's TLS
            # close_notify would only keep the socket open.
            _abort(transport)
            client.close()

    # -- connecting --------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            context = ssl.create_default_context(cafile=self.config.ca_file)
            if not self.config.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls_context = context
        return self._tls_context

    async def _open(self, started: float) -> aiosmtplib.SMTP:
        """A connected client with TLS and login done, or a classified DeliveryError."""
        cfg = self.config
        if self._local_hostname is None:
            # aiosmtplib would look this up for every connection; it can be slow on bad DNS.
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            local_hostname=self._local_hostname,
            timeout=cfg.timeout,
            use_tls=cfg.security == "ssl",
            # STARTTLS is done by hand so that a server not offering it is an error, not
            # a silent fall back to clear text.
            start_tls=False,
            tls_context=self._context() if cfg.security != "none" else None,
        )
        if not cfg.allow_private:
            try:
                await network.resolve_global_async(cfg.host, cfg.port)
            except network.Refused as exc:
                raise TemporaryFailure(
                    f"connection to {self._where} not attempted: {exc}",
                    error_type=BLOCKED_HOST,
                    duration=time.monotonic() - started,
                ) from None
        phase = "connect"
        tcp: asyncio.BaseTransport | None = None
        try:
            await client.connect()
            tcp = client.transport
            self.connections_opened += 1
            await client.ehlo()
            if cfg.security == "starttls":
                phase = "tls"
                if not client.supports_extension("starttls"):
                    raise TemporaryFailure(
                        f"{self._where} does not offer STARTTLS; refusing to send in clear text",
                        error_type="tls",
                        duration=time.monotonic() - started,
                    )
                await client.starttls()
                await client.ehlo()
            if cfg.username is not None:
                phase = "auth"
                await client.login(cfg.username, cfg.password or "")
        except BaseException as exc:
            _discard(client, tcp)
            classified = None
            if isinstance(exc, Exception) and not isinstance(exc, DeliveryError):
                classified = self._classify_open(exc, phase, started)
            if classified is None:
                raise
            raise classified from exc
        return client

    @staticmethod
    def _mail_options(conn: _Pooled, sender: str, recipients: list[str], raw: bytes) -> list[str]:
        options: list[str] = []
        if not raw.isascii() and conn.client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(addr.isascii() for addr in [sender, *recipients]):
            # aiosmtplib raises SMTPNotSupported if the server lacks it: a permanent failure.
            options.append("SMTPUTF8")
        return options

    def _classify_open(self, exc: Exception, phase: str, started: float) -> DeliveryError | None:
        return classify_open(
            exc, phase, time.monotonic() - started, self._where, self.config.timeout
        )

    def _classify_send(self, exc: Exception, started: float) -> DeliveryError | None:
        return classify_send(exc, time.monotonic() - started, self._where, self.config.timeout)

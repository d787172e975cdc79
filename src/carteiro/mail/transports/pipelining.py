"""RFC 2920 pipelining on a connection that aiosmtplib opened, secured and logged in.

aiosmtplib reads exactly one reply per command and drops bytes that arrive while a parsed
reply waits to be picked up, so several commands in flight would lose replies. Once the
session is set up, this module takes the transport over with a reader that queues every
reply in order, sends MAIL FROM, every RCPT TO and DATA in one write, then the message.
Failures are raised as aiosmtplib's own exceptions so the transport classifies them the
same way on both paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPException,
    SMTPNotSupported,
    SMTPReadTimeoutError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)
from aiosmtplib.email import quote_address

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_LONE_EOL = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_MAX_REPLY = 64 * 1024


def data_payload(raw: bytes) -> tuple[bytes, int]:
    """The DATA bytes (CRLF line ends, dot-stuffed, final dot) and the SIZE to declare.

    The SIZE is the length before dot-stuffing, as RFC 1870 and aiosmtplib count it.
    """
    if raw.count(b"\r") != raw.count(b"\n") or raw.count(b"\r\n") != raw.count(b"\n"):
        raw = _LONE_EOL.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    size = len(raw)
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n", size


class _ReplyReader(asyncio.Protocol):
    """Parses every reply the server sends into a queue, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.replies: deque[SMTPResponse] = deque()
        self.error: Exception | None = None
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        start = 0
        while (end := self._buffer.find(b"\n", start)) >= 0:
            line = bytes(self._buffer[start:end]).rstrip(b"\r")
            start = end + 1
            try:
                code = int(line[:3])
            except ValueError:
                self._fail(SMTPDataError(-1, f"malformed reply line: {line[:200]!r}"))
                return
            self._lines.append(line[4:].strip(b" \t").decode("utf-8", "surrogateescape"))
            if line[3:4] != b"-":
                self.replies.append(SMTPResponse(code, "\n".join(self._lines)))
                self._lines = []
        del self._buffer[:start]
        if len(self._buffer) > _MAX_REPLY:
            self._fail(SMTPDataError(-1, "reply too long"))
            return
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        error = SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._fail(error)
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(error)

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drain(self) -> None:
        if self._paused:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    async def next_reply(self) -> SMTPResponse:
        while not self.replies:
            if self.error is not None:
                raise self.error
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.replies.popleft()

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass(frozen=True)
class Envelope:
    """A transaction whose envelope is written: what is needed to read its replies and
    send its message."""

    sender: str
    recipients: list[str]
    payload: bytes


class PipelinedConnection:
    """A logged-in SMTP session that sends each message's envelope in one write.

    `in_sync` stays true while every command sent has had its reply read and the server
    has not announced it is closing, so the connection can serve the next message.
    """

    def __init__(self, client: aiosmtplib.SMTP, *, timeout: float) -> None:
        # uvloop's transports (what `carteiro serve` runs on) implement asyncio.Transport
        # without subclassing it: check the connection, never the class.
        if client.transport is None or client.transport.is_closing():
            raise SMTPServerDisconnected("Server not connected")
        transport = cast(asyncio.Transport, client.transport)
        self._reader = _ReplyReader()
        self._reader.transport = transport
        transport.set_protocol(self._reader)
        self.transport = transport
        self.timeout = timeout
        self.utf8 = client.supports_extension("smtputf8")
        self.size = client.supports_extension("size")
        self.in_sync = True
        self._corked: list[bytes] | None = None

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Writes inside the block leave as one write: a body and the next envelope then
        share TLS records and packets instead of arriving as two reads at the server."""
        self._corked = []
        try:
            yield
        finally:
            pending, self._corked = self._corked, None
            if pending and not self.transport.is_closing():
                self.transport.write(b"".join(pending))

    @property
    def is_connected(self) -> bool:
        # A reply nobody asked for (say, a 421 before an idle close) would be paired with
        # the next command: such a connection is as good as closed.
        reader = self._reader
        return reader.error is None and not reader.replies and not self.transport.is_closing()

    def abort(self) -> None:
        self.in_sync = False
        self.transport.abort()

    def begin(
        self, sender: str, recipients: list[str], raw: bytes, *, mail_options: list[str]
    ) -> Envelope:
        """Checks every address, then writes MAIL FROM, every RCPT TO and DATA at once.

        Raises before writing anything if an address or option cannot be sent, so a bad
        message never leaves a half-sent envelope behind."""
        utf8 = any(option.upper() == "SMTPUTF8" for option in mail_options)
        if utf8 and not self.utf8:
            raise SMTPNotSupported("SMTPUTF8 is not supported by this server")
        encoding = "utf-8" if utf8 else "ascii"
        payload, size = data_payload(raw)
        options = ([f"SIZE={size}"] if self.size else []) + mail_options
        mail = _line(b"MAIL FROM:" + quote_address(sender).encode(encoding), options)
        rcpts = [_line(b"RCPT TO:" + quote_address(r).encode(encoding), []) for r in recipients]
        self._write(b"".join([mail, *rcpts, b"DATA\r\n"]))
        return Envelope(sender, recipients, payload)

    async def accept(self, envelope: Envelope) -> dict[str, SMTPResponse]:
        """Reads the envelope's replies; returns the refused recipients when the server asks
        for the message (354), else ends the transaction and raises like aiosmtplib."""
        recipients = envelope.recipients
        mail_reply, rcpt_replies, data_reply = await self._collect(len(recipients))
        refused = {
            addr: reply
            for addr, reply in zip(recipients, rcpt_replies, strict=True)
            if reply.code not in (250, 251)
        }
        sender_ok = mail_reply.code == 250
        accepted = sender_ok and len(refused) < len(recipients)
        if data_reply.code == 354:
            if accepted:
                return refused
            # RFC 2920: a server may take DATA with no valid recipient; an empty message
            # ends that transaction without delivering anything.
            self._write(b".\r\n")
            await self._read()
        try:
            await self.rset()
        except (SMTPException, OSError):
            # The verdict below stands; the connection just cannot be reused.
            self.in_sync = False
        if not sender_ok:
            raise SMTPSenderRefused(mail_reply.code, mail_reply.message, envelope.sender)
        if not accepted:
            raise SMTPRecipientsRefused(
                [SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()]
            )
        raise SMTPDataError(data_reply.code, data_reply.message)

    def write_body(self, envelope: Envelope) -> None:
        """The message after a 354. RFC 2920 lets the next envelope follow in the same
        write, which is how a busy connection needs one round trip per message."""
        self._write(envelope.payload)

    async def drain(self) -> None:
        await self._reader.drain()

    async def finish(self) -> str:
        """The reply to the message body; raises unless it is 250."""
        final = await self._read()
        if final.code != 250:
            raise SMTPDataError(final.code, final.message)
        return final.message

    async def rset(self) -> None:
        self._write(b"RSET\r\n")
        reply = await self._read()
        if reply.code != 250:
            self.in_sync = False

    async def noop(self) -> None:
        self._write(b"NOOP\r\n")
        reply = await self._read()
        if reply.code != 250:
            raise SMTPDataError(reply.code, reply.message)

    async def quit(self) -> None:
        self._write(b"QUIT\r\n")
        await self._read()
        self.in_sync = False

    async def _collect(
        self, recipients: int
    ) -> tuple[SMTPResponse, list[SMTPResponse], SMTPResponse]:
        mail = await self._read()
        rcpts = [await self._read() for _ in range(recipients)]
        data = await self._read()
        return mail, rcpts, data

    def _write(self, data: bytes) -> None:
        if not self.is_connected:
            self.in_sync = False
            raise SMTPServerDisconnected("Connection lost")
        if self._corked is not None:
            self._corked.append(data)
            return
        self.transport.write(data)

    async def _read(self) -> SMTPResponse:
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._reader.next_reply()
        except TimeoutError as exc:
            # Replies still owed would be paired with the wrong commands from now on.
            self.abort()
            raise SMTPReadTimeoutError("Timed out waiting for server response") from exc
        except BaseException:
            self.abort()
            raise
        if reply.code == 421:
            # The server is closing the session; later replies, if any, mean nothing.
            self.abort()
            raise SMTPResponseException(reply.code, reply.message)
        return reply


def _line(command: bytes, options: list[str]) -> bytes:
    parts = [command, *(option.encode("ascii") for option in options)]
    line = b" ".join(parts)
    if _CONTROL.search(line):
        raise ValueError("Command arg contains a prohibited control character")
    return line + b"\r\n"

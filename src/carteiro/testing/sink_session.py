"""One SMTP server session of the pipelining sink: command parsing, state and replies."""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

_PATH = re.compile(rb"^(?:FROM|TO):\s*<([^>]*)>(.*)$", re.IGNORECASE)

# Replies the session loop treats as actions rather than text to send.
CLOSE = "close"
DROP = "drop"
STARTTLS = "starttls"


class SinkPolicy(Protocol):
    """What a session reads from the server that owns it: its settings, faults and records.

    A protocol, so the session never imports the server that imports it."""

    hostname: str
    pipelining: bool
    max_size: int
    tls_context: ssl.SSLContext | None
    users: dict[str, str] | None
    require_tls: bool
    mail_reply: str | None
    data_reply: str | None

    def _login(self, user: bytes | None, password: bytes | None) -> bool: ...
    def _rcpt_reject(self, address: str) -> str | None: ...
    def _verdict(self) -> str | None: ...
    def _record(self, mail_from: str, rcpt_tos: list[str], body: bytes, peer: object) -> None: ...


@dataclass
class Envelope:
    mail_from: str | None = None
    rcpt_tos: list[str] = field(default_factory=list)


class SinkSession:
    """The protocol state of one connection; `handle(line)` returns reply bytes or an action.

    Everything here runs on the sink's own thread, so only the shared counters it reports
    through the sink need a lock.
    """

    def __init__(self, sink: SinkPolicy, *, tls: bool) -> None:
        self.sink = sink
        self.tls = tls
        self.greeted = False
        self.authenticated = False
        self.envelope = Envelope()
        self.in_data = False
        # Multi-step AUTH: ("plain",) or ("login", username | None).
        self._auth: tuple[str, bytes | None] | None = None
        self._delayed: tuple[Envelope, bytes] | None = None

    # -- capabilities ------------------------------------------------------------------

    def _ehlo_lines(self) -> list[str]:
        sink = self.sink
        lines = [sink.hostname]
        if sink.pipelining:
            lines.append("PIPELINING")
        lines += ["8BITMIME", f"SIZE {sink.max_size}", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
        if sink.tls_context is not None and not self.tls:
            lines.append("STARTTLS")
        if sink.users is not None and (self.tls or not sink.require_tls):
            lines.append("AUTH PLAIN LOGIN")
        return lines

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, line: bytes) -> bytes | str:
        if self._auth is not None:
            return self._auth_continue(line)
        verb, _, arg = line.partition(b" ")
        name = verb.upper().decode("ascii", "replace")
        handler: Callable[[bytes], bytes | str] | None = (
            getattr(self, f"_cmd_{name.lower()}", None) if name.isalpha() else None
        )
        if handler is None:
            return b"500 5.5.2 Command not recognised\r\n"
        return handler(arg.strip())

    def _needs_auth(self) -> bytes | None:
        if not self.greeted:
            return b"503 5.5.1 Say EHLO first\r\n"
        if self.sink.tls_context is not None and self.sink.require_tls and not self.tls:
            return b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        if self.sink.users is not None and not self.authenticated:
            return b"530 5.7.0 Authentication required\r\n"
        return None

    def _cmd_ehlo(self, arg: bytes) -> bytes:
        if not arg:
            return b"501 5.5.4 Syntax: EHLO hostname\r\n"
        self.greeted = True
        self.envelope = Envelope()
        lines = self._ehlo_lines()
        text = "".join(f"250-{x}\r\n" for x in lines[:-1]) + f"250 {lines[-1]}\r\n"
        return text.encode()

    def _cmd_helo(self, arg: bytes) -> bytes:
        if not arg:
            return b"501 5.5.4 Syntax: HELO hostname\r\n"
        self.greeted = True
        self.envelope = Envelope()
        return f"250 {self.sink.hostname}\r\n".encode()

    def _cmd_starttls(self, arg: bytes) -> bytes | str:
        if self.sink.tls_context is None or self.tls:
            return b"503 5.5.1 TLS not available\r\n"
        return STARTTLS

    def _cmd_auth(self, arg: bytes) -> bytes:
        if not self.greeted:
            return b"503 5.5.1 Say EHLO first\r\n"
        if self.sink.users is None:
            return b"502 5.5.1 AUTH not supported\r\n"
        if self.sink.require_tls and self.sink.tls_context is not None and not self.tls:
            return b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        if self.authenticated:
            return b"503 5.5.1 Already authenticated\r\n"
        mechanism, _, initial = arg.partition(b" ")
        mechanism = mechanism.upper()
        if mechanism == b"PLAIN":
            if initial:
                return self._plain(initial)
            self._auth = ("plain", None)
            return b"334 \r\n"
        if mechanism == b"LOGIN":
            if initial:
                self._auth = ("login", _b64(initial))
                return b"334 UGFzc3dvcmQ6\r\n"
            self._auth = ("login", None)
            return b"334 VXNlcm5hbWU6\r\n"
        return b"504 5.5.4 Unrecognised authentication type\r\n"

    def _auth_continue(self, line: bytes) -> bytes:
        step = self._auth
        assert step is not None
        if line == b"*":
            self._auth = None
            return b"501 5.7.0 Authentication cancelled\r\n"
        if step[0] == "plain":
            self._auth = None
            return self._plain(line)
        if step[1] is None:
            self._auth = ("login", _b64(line))
            return b"334 UGFzc3dvcmQ6\r\n"
        self._auth = None
        return self._check(step[1], _b64(line))

    def _plain(self, blob: bytes) -> bytes:
        parts = (_b64(blob) or b"").split(b"\0")
        if len(parts) != 3:
            return self._check(None, None)
        return self._check(parts[1], parts[2])

    def _check(self, user: bytes | None, password: bytes | None) -> bytes:
        ok = self.sink._login(user, password)
        if ok:
            self.authenticated = True
            return b"235 2.7.0 Authentication successful\r\n"
        return b"535 5.7.8 Authentication credentials invalid\r\n"

    def _cmd_mail(self, arg: bytes) -> bytes | str:
        refused = self._needs_auth()
        if refused is not None:
            return refused
        if self.envelope.mail_from is not None:
            return b"503 5.5.1 Nested MAIL command\r\n"
        match = _PATH.match(arg)
        if match is None or not arg.upper().startswith(b"FROM:"):
            return b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
        forced = self.sink.mail_reply
        if forced is not None:
            return _reply(forced)
        params = match.group(2).upper().split()
        for param in params:
            if param.startswith(b"SIZE=") and int(param[5:] or 0) > self.sink.max_size:
                return b"552 5.3.4 Message size exceeds fixed limit\r\n"
        self.envelope.mail_from = match.group(1).decode("utf-8", "replace")
        return b"250 2.1.0 OK\r\n"

    def _cmd_rcpt(self, arg: bytes) -> bytes | str:
        refused = self._needs_auth()
        if refused is not None:
            return refused
        if self.envelope.mail_from is None:
            return b"503 5.5.1 Need MAIL before RCPT\r\n"
        match = _PATH.match(arg)
        if match is None or not arg.upper().startswith(b"TO:"):
            return b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"
        address = match.group(1).decode("utf-8", "replace")
        reject = self.sink._rcpt_reject(address)
        if reject is not None:
            return _reply(reject)
        self.envelope.rcpt_tos.append(address)
        return b"250 2.1.5 OK\r\n"

    def _cmd_data(self, arg: bytes) -> bytes | str:
        refused = self._needs_auth()
        if refused is not None:
            return refused
        if self.envelope.mail_from is None:
            return b"503 5.5.1 Need MAIL command\r\n"
        if not self.envelope.rcpt_tos:
            return b"554 5.5.1 No valid recipients\r\n"
        forced = self.sink.data_reply
        if forced is not None:
            self.envelope = Envelope()
            return _reply(forced)
        self.in_data = True
        return b"354 End data with <CR><LF>.<CR><LF>\r\n"

    def end_data(self, body: bytes, peer: object) -> bytes | str:
        """The body (still dot-stuffed) arrived; accept it or apply a fault."""
        self.in_data = False
        envelope, self.envelope = self.envelope, Envelope()
        verdict = self.sink._verdict()
        if verdict == DROP:
            return DROP
        if verdict is not None and verdict.startswith("421"):
            return CLOSE + ":" + verdict
        if verdict is not None and not verdict.startswith(("2", "delay:")):
            return _reply(verdict)
        if body.startswith(b".."):
            body = body[1:]
        body = body.replace(b"\r\n..", b"\r\n.")
        if verdict is not None and verdict.startswith("delay:"):
            self._delayed = (envelope, body)
            return verdict
        self.sink._record(envelope.mail_from or "", envelope.rcpt_tos, body, peer)
        return _reply(verdict) if verdict is not None else b"250 2.0.0 OK queued\r\n"

    def accept_delayed(self, peer: object) -> bytes:
        """Record the message whose reply was held back by a `delay:` verdict."""
        assert self._delayed is not None
        envelope, body = self._delayed
        self._delayed = None
        self.sink._record(envelope.mail_from or "", envelope.rcpt_tos, body, peer)
        return b"250 2.0.0 OK queued\r\n"

    def _cmd_rset(self, arg: bytes) -> bytes:
        self.envelope = Envelope()
        return b"250 2.0.0 OK\r\n"

    def _cmd_noop(self, arg: bytes) -> bytes:
        return b"250 2.0.0 OK\r\n"

    def _cmd_vrfy(self, arg: bytes) -> bytes:
        return b"252 2.0.0 Cannot VRFY user\r\n"

    def _cmd_quit(self, arg: bytes) -> str:
        return CLOSE + ":221 2.0.0 Bye"


def _reply(text: str) -> bytes:
    return text.encode("utf-8").rstrip(b"\r\n") + b"\r\n"


def _b64(blob: bytes) -> bytes | None:
    try:
        return base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None

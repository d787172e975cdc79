"""The transport boundary: what the dispatcher needs from anything that delivers a message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    """The server accepted the message (a 2xx after DATA)."""

    code: int
    reply: str
    duration: float
    # Recipients the server refused while accepting others: address -> (code, reply).
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)


class DeliveryError(Exception):
    """A send did not succeed; `permanent` decides between retry and `failed`."""

    permanent = False

    def __init__(
        self,
        reply: str,
        *,
        code: int | None = None,
        error_type: str = "connection",
        duration: float = 0.0,
    ) -> None:
        super().__init__(reply)
        self.reply = reply
        self.code = code
        self.error_type = error_type
        self.duration = duration


class TemporaryFailure(DeliveryError):
    """4xx replies, dropped connections, timeouts, TLS and login trouble: retry later."""


class PermanentFailure(DeliveryError):
    """5xx replies to the message or all of its recipients: never retried."""

    permanent = True


class Transport(Protocol):
    """Delivers raw RFC 5322 bytes to an envelope; implementations keep their own connections."""

    name: str

    async def send(self, *, sender: str, recipients: list[str], raw: bytes) -> SendResult: ...

    async def set_limit(self, connections: int) -> None:
        """How many connections it may keep open from now on (the slots its worker holds)."""
        ...

    async def close(self) -> None: ...

"""The capture transport: keeps the message on disk and reports it sent; nothing leaves."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from carteiro.files import private_dir, write_private
from carteiro.mail.transports.base import SendResult


class CaptureTransport:
    """Used while no real account exists; the raw bytes stay readable through the API."""

    name = "capture"

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory

    def _write(self, message_id: str, raw: bytes) -> None:
        assert self.directory is not None
        private_dir(self.directory)
        safe = "".join(c for c in message_id if c.isalnum() or c in "._-@") or "message"
        write_private(self.directory / f"{safe}.eml", raw)

    async def send(self, *, sender: str, recipients: list[str], raw: bytes) -> SendResult:
        started = time.perf_counter()
        if self.directory is not None:
            message_id = _message_id(raw)
            await asyncio.to_thread(self._write, message_id, raw)
        return SendResult(
            code=250,
            reply=f"captured for {len(recipients)} recipient(s); not delivered",
            duration=time.perf_counter() - started,
        )

    async def set_limit(self, connections: int) -> None:
        return None  # no connections

    async def close(self) -> None:
        return None


def _message_id(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().strip(b"<>").decode("ascii", "replace")
    return str(time.time_ns())

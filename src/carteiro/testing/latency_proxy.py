"""A loopback TCP proxy that delays bytes each way by half a round trip, like a distant server."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

from carteiro.testing.loop_thread import LoopThread

# Bytes held back per direction before the proxy stops reading from that side.
_MAX_PENDING = 8 * 1024 * 1024


class _Side(asyncio.Protocol):
    """One end of a proxied connection; forwards what it reads to `peer` after `delay`."""

    def __init__(self, proxy: LatencyProxy, *, accepted: bool = False) -> None:
        self.proxy = proxy
        self.accepted = accepted
        self.loop = asyncio.get_running_loop()
        self.delay = proxy.rtt / 2
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.pending_bytes = 0
        self.eof_at: float | None = None
        self.reading_paused = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it
        if self.accepted:
            self.transport.pause_reading()
            self.loop.create_task(self.proxy._connect(self))

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            return
        if self.delay <= 0 and not self.pending:
            peer.transport.write(data)
            return
        # Chunks are stamped on arrival and released together once due, so a large
        # transfer keeps its throughput and only gains the delay.
        due = self.loop.time() + self.delay
        self.pending.append((due, data))
        self.pending_bytes += len(data)
        if len(self.pending) == 1:
            self.loop.call_at(due, self._release)
        if self.pending_bytes > _MAX_PENDING and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True

    def _release(self) -> None:
        peer = self.peer
        now = self.loop.time()
        chunks: list[bytes] = []
        while self.pending and self.pending[0][0] <= now + 0.0002:
            chunk = self.pending.popleft()[1]
            self.pending_bytes -= len(chunk)
            chunks.append(chunk)
        if chunks and peer is not None and peer.transport is not None:
            peer.transport.write(b"".join(chunks))
        if self.pending:
            self.loop.call_at(self.pending[0][0], self._release)
        elif self.eof_at is not None:
            self._close_peer()
        if self.reading_paused and self.pending_bytes < _MAX_PENDING // 2 and self.transport:
            self.transport.resume_reading()
            self.reading_paused = False

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.proxy._sides.discard(self)
        self._finish()

    def _finish(self) -> None:
        if self.eof_at is not None:
            return
        self.eof_at = self.loop.time() + self.delay
        if not self.pending:
            self.loop.call_at(self.eof_at, self._close_peer)

    def _close_peer(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            peer.transport.close()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # The peer's socket is full: stop reading here until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class LatencyProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`, adding `rtt_ms` per round trip.

    Each direction is delayed by half the round trip; a new connection also waits one round
    trip before it reaches the target, as a TCP handshake would. Runs on its own thread:
    ``with LatencyProxy("127.0.0.1", sink.port, rtt_ms=20) as proxy: ... proxy.port``.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        rtt_ms: float = 20.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if rtt_ms < 0:
            raise ValueError("rtt_ms cannot be negative")
        self.target_host = target_host
        self.target_port = target_port
        self.rtt = rtt_ms / 1000.0
        self.host = host
        self.port = port
        self.connections = 0
        self._runner = LoopThread("latency-proxy")
        self._sides: set[_Side] = set()

    def start(self) -> LatencyProxy:
        async def serve() -> asyncio.Server:
            loop = asyncio.get_running_loop()
            return await loop.create_server(self._accept, self.host, self.port, backlog=1024)

        self.port = self._runner.start(serve)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner.server is not None:
                self._runner.server.close()
            for side in list(self._sides):
                if side.transport is not None:
                    side.transport.abort()

        self._runner.stop(shutdown)

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> _Side:
        client = _Side(self, accepted=True)
        self.connections += 1
        self._sides.add(client)
        return client

    async def _connect(self, client: _Side) -> None:
        assert client.transport is not None
        if self.rtt > 0:
            await asyncio.sleep(self.rtt)
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Side(self), self.target_host, self.target_port
            )
        except OSError:
            client.transport.abort()
            self._sides.discard(client)
            return
        if client.closed:
            if upstream.transport is not None:
                upstream.transport.abort()
            return
        self._sides.add(upstream)
        client.peer, upstream.peer = upstream, client
        client.transport.resume_reading()

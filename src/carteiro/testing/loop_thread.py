"""Runs an asyncio server on an event loop of its own thread, for sync and async tests alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LoopThread:
    """Starts a server made by `make_server()` on a new loop in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, make_server: Callable[[], Awaitable[asyncio.Server]]) -> int:
        """Binds and serves; returns the real port. Errors while binding are raised here."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            try:
                self.server = loop.run_until_complete(make_server())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            self.loop = None
            raise failure[0]
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def stop(self, shutdown: Callable[[], Awaitable[None]]) -> None:
        """Runs `shutdown()` on the loop (close the server, cut connections), then ends it."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_call(shutdown), loop).result(5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        self._thread = None
        self.loop = None


async def _call(shutdown: Callable[[], Awaitable[None]]) -> None:
    await shutdown()

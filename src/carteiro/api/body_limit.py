"""Request body size limits per route, enforced as bytes arrive and before any handler runs."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class RouteLimit:
    """A larger (or smaller) limit for one method and path; `{name}` matches one segment."""

    method: str
    path: str
    max_bytes: int

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and _pattern(self.path).fullmatch(path) is not None


@functools.cache
def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _too_large(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "error": "too_large",
            "message": f"body: the request body is larger than {limit} bytes",
            "field": "body",
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        # The rest of the body is never read, so the connection cannot carry another request.
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    """Refuses a declared Content-Length over the route's limit without reading the body, and
    stops a streamed (chunked) body as soon as the bytes received pass it; both answer 413.

    The handler then sees the client as gone, and whatever it answers is replaced by the 413, so
    no request body is ever held in memory past its limit, authenticated or not."""

    def __init__(self, app: ASGIApp, *, default: int, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.default = default
        self.routes = tuple(routes)

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.matches(method, path):
                return route.max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared and (not declared[0].isdigit() or int(declared[0]) > limit):
            for message in _too_large(limit):
                await send(message)
            return

        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the 413 below answers instead
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            for message in _too_large(limit):
                await send(message)

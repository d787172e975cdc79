"""A fake OpenAI-compatible chat-completions server for tests: scripted replies (text or tool
calls) in OpenAI's response shape, the Bearer-key check, OpenAI's error shape, and a record of
every request, so a test can see what the model was sent.

Serve `FakeOpenAI.app` on loopback (`serve_in_thread`) and point a client at `<base>/v1`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass(frozen=True)
class ToolCallReply:
    """One function call the model asks for."""

    name: str
    arguments: dict[str, Any]


# A scripted turn: text, tool calls, or a function of the request (to answer from tool results).
Reply = str | list[ToolCallReply] | Callable[[dict[str, Any]], "str | list[ToolCallReply]"]


def openai_error(
    status: int, message: str, *, kind: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
    )


def _tokens(value: Any) -> int:
    # A rough count (four characters a token): enough for clients that read `usage`.
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


@dataclass
class FakeOpenAI:
    """`replies` are answered in order, one per chat-completions request. `record=False`
    keeps no request bodies (each carries the whole tool catalogue: a benchmark's thousands of
    them would weigh hundreds of MB)."""

    replies: list[Reply] = field(default_factory=list)
    api_key: str = "sk-test"
    record: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _calls: int = 0

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._unauthorized()
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def _unauthorized(self) -> JSONResponse:
        return openai_error(
            401, "Incorrect API key provided.", kind="invalid_request_error", code="invalid_api_key"
        )

    async def _completions(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            body = json.loads(await request.body())
        except ValueError:
            return openai_error(400, "the body is not JSON", kind="invalid_request_error")
        if not isinstance(body, dict):
            return openai_error(400, "the body is not an object", kind="invalid_request_error")
        for name, kind in (("model", str), ("messages", list)):
            if not isinstance(body.get(name), kind):
                return openai_error(
                    400, f"'{name}' is required", kind="invalid_request_error", param=name
                )
        if body.get("stream"):
            return openai_error(
                400, "this fake does not stream", kind="invalid_request_error", param="stream"
            )
        with self._lock:
            if self.record:
                self.requests.append(body)
            index = self._calls
            self._calls += 1
        if index >= len(self.replies):
            return openai_error(
                400,
                f"the fake's script has {len(self.replies)} replies; request {index + 1} has none",
                kind="invalid_request_error",
                code="script_exhausted",
            )
        reply = self.replies[index]
        turn = reply(body) if callable(reply) else reply
        return JSONResponse(self.completion(body, turn, index))

    @staticmethod
    def completion(
        body: dict[str, Any], turn: str | list[ToolCallReply], index: int
    ) -> dict[str, Any]:
        """A `chat.completion` object as OpenAI returns it."""
        message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
        if isinstance(turn, str):
            message["content"] = turn
            finish = "stop"
        else:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{index + 1}_{n + 1}",
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": json.dumps(call.arguments, ensure_ascii=False),
                    },
                }
                for n, call in enumerate(turn)
            ]
            finish = "tool_calls"
        prompt, completion = _tokens(body["messages"]), _tokens(message)
        return {
            "id": f"chatcmpl-fake{index + 1}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

"""LangChain tools built in-process from Carteiro's own MCP tools: one source of truth."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, Tool

from carteiro.config import Settings
from carteiro.errors import InvalidInput
from carteiro.mcp.server import build_server
from carteiro.mcp.stdio import per_call
from carteiro.mcp.toolkit import PrincipalResolver, fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

T = TypeVar("T")


_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None
_loop_lock = threading.Lock()


def _forget_loop() -> None:
    # A forked child has the loop object but not its thread: it makes its own.
    global _loop, _loop_thread
    _loop, _loop_thread = None, None


os.register_at_fork(after_in_child=_forget_loop)


def _shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop for every sync call, on a daemon thread. A new loop per call would
    break provider packages that cache async clients per process (langchain-openai's HTTP
    pool stays bound to the loop that first used it, and a closed loop fails the next call)."""
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None or _loop_thread is None or not _loop_thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="carteiro-agents", daemon=True)
            thread.start()
            _loop, _loop_thread = loop, thread
        return _loop


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to its end from sync code, on the shared loop, even when this thread
    already runs a loop (a notebook, an async agent calling a sync tool)."""
    loop = _shared_loop()
    if threading.current_thread() is not _loop_thread:
        return asyncio.run_coroutine_threadsafe(make(), loop).result()
    # Sync code called from a coroutine on the shared loop itself: waiting on that loop would
    # never end, so this one runs on a thread and loop of its own.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # handed back to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="carteiro-tool")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _compact(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def _result_data(result: CallToolResult) -> dict[str, Any]:
    if result.structured_content is not None:
        return dict(result.structured_content)
    texts = [getattr(c, "text", "") for c in result.content]
    return {"text": "\n".join(t for t in texts if t)}


@dataclass
class CarteiroToolkit:
    """Carteiro's MCP tools for one caller, callable in-process: the same scopes, allow-list,
    review mode and limits as over MCP, because every call goes through the same server."""

    runtime: Runtime
    resolve: PrincipalResolver

    def __post_init__(self) -> None:
        self.server: MCPServer = build_server(self.runtime, self.resolve)
        self._specs: list[Tool] | None = None

    @classmethod
    def for_key(cls, api_key: str, *, runtime: Runtime) -> CarteiroToolkit:
        """The key's tools, the key checked on every call (as over MCP: a revoked key stops
        at once); raises Unauthorized now for a bad or revoked key."""
        runtime.authenticate(api_key)
        return cls(runtime=runtime, resolve=per_call(runtime, api_key))

    @classmethod
    def for_principal(cls, principal: Principal, *, runtime: Runtime) -> CarteiroToolkit:
        """The tools of a principal the caller already resolved (a service, a test)."""
        return cls(runtime=runtime, resolve=fixed_principal(principal))

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def specs(self) -> list[Tool]:
        if self._specs is None:
            self._specs = await self.server.list_tools()
        return self._specs

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's structured result; ToolError (with the sentence the agent reads) if the
        tool refuses."""
        result = await self.server.call_tool(name, arguments)
        if not isinstance(result, CallToolResult):
            raise ToolError(f"Error executing tool {name}: it asked for input this client lacks")
        data = _result_data(result)
        if result.is_error:
            raise ToolError(data.get("text") or f"Error executing tool {name}")
        return data

    async def atools(
        self, *, include: Collection[str] | None = None, read_only: bool = False
    ) -> list[BaseTool]:
        specs = await self.specs()
        if include is not None:
            known = {s.name for s in specs}
            unknown = sorted(set(include) - known)
            if unknown:
                raise InvalidInput(
                    f"unknown tool(s) {', '.join(unknown)}; the tools are: {', '.join(known)}",
                    field="include",
                )
            specs = [s for s in specs if s.name in include]
        if read_only:
            specs = [s for s in specs if s.annotations is not None and s.annotations.read_only_hint]
        return [self._tool(spec) for spec in specs]

    def tools(
        self, *, include: Collection[str] | None = None, read_only: bool = False
    ) -> list[BaseTool]:
        """LangChain tools with the MCP tools' names, descriptions, input schemas and
        annotations (in `metadata`); `include` keeps the named ones, `read_only` those that
        change nothing."""
        return run_sync(lambda: self.atools(include=include, read_only=read_only))

    def _tool(self, spec: Tool) -> BaseTool:
        name = spec.name

        async def coroutine(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            # Models often send an explicit null for an optional argument they leave out.
            arguments = {k: v for k, v in kwargs.items() if v is not None}
            try:
                data = await self.call(name, arguments)
            except ToolError as exc:
                # handle_tool_error: the model reads the refusal and may correct itself.
                raise ToolException(str(exc)) from None
            return _compact(data), data

        def func(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            return run_sync(lambda: coroutine(**kwargs))

        annotations = (
            spec.annotations.model_dump(by_alias=True, exclude_none=True)
            if spec.annotations is not None
            else {}
        )
        return StructuredTool(
            name=name,
            description=spec.description or spec.title or name,
            args_schema=dict(spec.input_schema),
            func=func,
            coroutine=coroutine,
            response_format="content_and_artifact",
            handle_tool_error=True,
            metadata={"annotations": annotations, "output_schema": spec.output_schema},
        )


def is_read_only(tool: BaseTool) -> bool:
    """Whether the tool's MCP annotations say it changes nothing."""
    annotations = (tool.metadata or {}).get("annotations") or {}
    return bool(annotations.get("readOnlyHint"))


Confirm = Callable[[str, dict[str, Any]], bool | Awaitable[bool]]
"""`confirm(tool_name, arguments) -> bool` (or an awaitable of it): may this call go ahead?"""

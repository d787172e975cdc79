"""Carteiro for LangChain: its MCP tools as LangChain tools, the seed's send and NL entry points.

from carteiro.agents.langchain import carteiro_tools
tools = carteiro_tools(api_key)          # add them to any agent's tool list
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool, ToolException
from mcp.server.mcpserver.exceptions import ToolError

from carteiro import wiring
from carteiro.agents.chat import chat_model
from carteiro.agents.natural import MAX_STEPS, NOT_UNDERSTOOD, NLResult, run_agent, run_parsed
from carteiro.agents.parser import SendRequest, parse_send_request
from carteiro.agents.tools import CarteiroToolkit, Confirm, run_sync
from carteiro.config import Settings
from carteiro.errors import InvalidInput
from carteiro.outbound.schemas import Priority
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

__all__ = [
    "CarteiroToolkit",
    "NLResult",
    "SendRequest",
    "aprocess_natural_language",
    "carteiro_tools",
    "parse_send_request",
    "process_natural_language",
    "send_email_direct",
    "toolkit",
]

_lock = threading.Lock()
_runtime: Runtime | None = None
_toolkits: dict[tuple[int, str], CarteiroToolkit] = {}


def _default_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = wiring.runtime(Settings())
        return _runtime


def toolkit(
    api_key: str | None = None,
    *,
    principal: Principal | None = None,
    runtime: Runtime | None = None,
) -> CarteiroToolkit:
    """The toolkit for a key (default CARTEIRO_API_KEY) or a resolved principal, on `runtime`
    (default: one built from the environment). One per runtime and key is kept and reused."""
    runtime = runtime or _default_runtime()
    if principal is not None:
        return CarteiroToolkit.for_principal(principal, runtime=runtime)
    key = api_key or runtime.settings.api_key
    if not key:
        raise InvalidInput(
            "no API key: pass api_key=, or set CARTEIRO_API_KEY (carteiro keys create --name "
            "agent)",
            field="api_key",
        )
    cache_key = (id(runtime), key)
    with _lock:
        found = _toolkits.get(cache_key)
    if found is None:
        found = CarteiroToolkit.for_key(key, runtime=runtime)
        with _lock:
            found = _toolkits.setdefault(cache_key, found)
    return found


def carteiro_tools(
    api_key: str | None = None,
    *,
    principal: Principal | None = None,
    runtime: Runtime | None = None,
    include: Collection[str] | None = None,
    read_only: bool = False,
) -> list[BaseTool]:
    """Carteiro's MCP tools as LangChain `StructuredTool`s for this key: `include` keeps the
    named tools, `read_only=True` only those that change nothing."""
    kit = toolkit(api_key, principal=principal, runtime=runtime)
    return kit.tools(include=include, read_only=read_only)


def send_email_direct(
    to: str | list[str],
    subject: str,
    body: str,
    cc: str | list[str] | None = None,
    priority: Priority = "normal",
    *,
    api_key: str | None = None,
    principal: Principal | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Queues one e-mail through the send_email tool and returns its result ({id, status,
    note, …}); raises ToolException with the refusal (allow-list, scope, limit, bad input)."""
    kit = toolkit(api_key, principal=principal, runtime=runtime)
    args: dict[str, Any] = {"to": to, "subject": subject, "body": body, "priority": priority}
    if cc:
        args["cc"] = cc
    try:
        return run_sync(lambda: kit.call("send_email", args))
    except ToolError as exc:
        raise ToolException(str(exc)) from None


async def aprocess_natural_language(
    text: str,
    *,
    llm: BaseChatModel | None = None,
    timezone: str = "America/Sao_Paulo",
    confirm: Confirm | None = None,
    api_key: str | None = None,
    principal: Principal | None = None,
    runtime: Runtime | None = None,
    tools: Sequence[BaseTool] | None = None,
    max_steps: int = MAX_STEPS,
) -> NLResult:
    """Does what `text` asks with Carteiro's tools. `llm`: any chat model with `bind_tools`
    (default: the configured one). With no model at all, only the canonical phrasing "Envie um
    email para X com assunto 'Y' e mensagem 'Z'" is understood; anything else sends nothing."""
    kit = toolkit(api_key, principal=principal, runtime=runtime)
    model = llm if llm is not None else chat_model(kit.settings)
    if model is None:
        request = parse_send_request(text)
        if request is None:
            return NLResult(answer=NOT_UNDERSTOOD, understood=False)
        return await run_parsed(request, toolkit=kit, confirm=confirm)
    chosen = list(tools) if tools is not None else await kit.atools()
    return await run_agent(
        text, llm=model, tools=chosen, timezone=timezone, confirm=confirm, max_steps=max_steps
    )


def process_natural_language(
    text: str,
    *,
    llm: BaseChatModel | None = None,
    timezone: str = "America/Sao_Paulo",
    confirm: Confirm | None = None,
    api_key: str | None = None,
    principal: Principal | None = None,
    runtime: Runtime | None = None,
    tools: Sequence[BaseTool] | None = None,
    max_steps: int = MAX_STEPS,
) -> NLResult:
    """The sync form of `aprocess_natural_language`."""
    return run_sync(
        lambda: aprocess_natural_language(
            text,
            llm=llm,
            timezone=timezone,
            confirm=confirm,
            api_key=api_key,
            principal=principal,
            runtime=runtime,
            tools=tools,
            max_steps=max_steps,
        )
    )

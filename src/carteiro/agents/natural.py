"""The natural-language sender: a bounded tool-calling loop over any chat model with tools."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from carteiro.agents.parser import SendRequest
from carteiro.agents.tools import CarteiroToolkit, Confirm, is_read_only
from carteiro.db.types import utcnow
from carteiro.errors import InvalidInput
from carteiro.mcp.server import instructions

MAX_STEPS = 6
DECLINED = "the user declined this call: nothing was done. Do not retry it; tell the user."
NOT_UNDERSTOOD = (
    "Sem um modelo configurado (CARTEIRO_LLM_PROVIDER), só entendo o pedido no formato: "
    "Envie um email para nome@empresa.com com assunto 'Assunto' e mensagem 'Texto'. "
    "Nada foi enviado."
)


@dataclass(frozen=True)
class Action:
    """One tool call the agent made and how it ended."""

    tool: str
    args: dict[str, Any]
    status: Literal["success", "error", "declined"]
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class NLResult:
    """The agent's final answer, the tool calls it made, and the whole conversation."""

    answer: str
    actions: list[Action] = field(default_factory=list)
    messages: list[BaseMessage] = field(default_factory=list)
    understood: bool = True

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The results of the sends that went through (queued or held)."""
        return [a.result for a in self.actions if a.tool == "send_email" and a.result is not None]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone '{name}': give an IANA name such as America/Sao_Paulo",
            field="timezone",
        ) from None


def system_prompt(now: datetime, timezone: str) -> str:
    """The server's instructions plus the current time where the user is."""
    local = now.astimezone(zone(timezone))
    return (
        f"{instructions(now)}\n\nYou act for a user in the time zone {timezone}. For them it is "
        f"now {local.strftime('%A %Y-%m-%d %H:%M')} (UTC{local.strftime('%z')[:3]}:"
        f"{local.strftime('%z')[3:]}): read 'today', 'tomorrow' and times of day in that zone, "
        "and give send_at with that offset. Use the tools to do what the user asks, then "
        "answer in one or two sentences in the user's language, saying what was queued or "
        "held and its id. If a tool refuses, explain the refusal; never invent a result."
    )


async def _confirmed(confirm: Confirm | None, name: str, args: dict[str, Any]) -> bool:
    if confirm is None:
        return True
    answer = confirm(name, args)
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


def _error_text(message: ToolMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


async def _run_call(
    call: ToolCall, tools: dict[str, BaseTool], confirm: Confirm | None
) -> tuple[ToolMessage, Action]:
    name, args, call_id = call["name"], dict(call["args"]), call.get("id") or ""
    tool = tools.get(name)
    if tool is None:
        text = f"unknown tool '{name}'; the tools are: {', '.join(tools)}"
        return ToolMessage(text, tool_call_id=call_id, status="error"), Action(
            name, args, "error", error=text
        )
    if not is_read_only(tool) and not await _confirmed(confirm, name, args):
        return ToolMessage(DECLINED, tool_call_id=call_id, status="error"), Action(
            name, args, "declined", error=DECLINED
        )
    message = await tool.ainvoke(call)
    assert isinstance(message, ToolMessage)
    if message.status == "error":
        return message, Action(name, args, "error", error=_error_text(message))
    artifact = message.artifact if isinstance(message.artifact, dict) else None
    return message, Action(name, args, "success", result=artifact)


async def run_agent(
    text: str,
    *,
    llm: BaseChatModel,
    tools: Sequence[BaseTool],
    timezone: str = "America/Sao_Paulo",
    confirm: Confirm | None = None,
    max_steps: int = MAX_STEPS,
) -> NLResult:
    """Asks `llm` (bound to `tools`) to do `text`, running the tool calls it makes, for at most
    `max_steps` model turns. Refusals and declined confirmations go back to the model as error
    tool messages, so it can explain them."""
    messages: list[BaseMessage] = [
        SystemMessage(system_prompt(utcnow(), timezone)),
        HumanMessage(text),
    ]
    by_name = {t.name: t for t in tools}
    bound = llm.bind_tools(list(tools))
    actions: list[Action] = []
    for _ in range(max_steps):
        reply = await bound.ainvoke(messages)
        assert isinstance(reply, AIMessage)
        messages.append(reply)
        if not reply.tool_calls:
            return NLResult(answer=reply.text, actions=actions, messages=messages)
        for call in reply.tool_calls:
            tool_message, action = await _run_call(call, by_name, confirm)
            messages.append(tool_message)
            actions.append(action)
    answer = f"stopped after {max_steps} model turns without a final answer"
    return NLResult(answer=answer, actions=actions, messages=messages)


async def run_parsed(
    request: SendRequest, *, toolkit: CarteiroToolkit, confirm: Confirm | None
) -> NLResult:
    """Sends exactly what the strict parser read, through the same send_email tool."""
    (tool,) = await toolkit.atools(include=["send_email"])
    args: dict[str, Any] = {"to": request.to, "subject": request.subject, "body": request.body}
    if request.cc:
        args["cc"] = request.cc
    if request.priority != "normal":
        args["priority"] = request.priority
    call = ToolCall(name="send_email", args=args, id="parsed-1", type="tool_call")
    message, action = await _run_call(call, {"send_email": tool}, confirm)
    if action.status == "success" and action.result is not None:
        result = action.result
        answer = f"E-mail {result.get('id')} para {', '.join(request.to)}: {result.get('note')}"
    elif action.status == "declined":
        answer = "Envio cancelado: nada foi enviado."
    else:
        answer = f"Não enviado: {action.error}"
    return NLResult(answer=answer, actions=[action], messages=[message])

"""LangChain's fake chat model, able to take tools, and a model factory as settings name one
(a module of its own: `conftest` is not a unique module name across test folders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolCall


class ToolCallingFake(GenericFakeChatModel):
    """LangChain's scripted chat model; its own bind_tools refuses, so this one keeps the
    script (the scripted replies already name the tools to call)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
        return self


def scripted(*replies: AIMessage | str) -> ToolCallingFake:
    return ToolCallingFake(messages=iter(replies))


def call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    return AIMessage(
        content="", tool_calls=[ToolCall(name=name, args=args, id=call_id, type="tool_call")]
    )


def scripted_from_settings(settings: Any) -> ToolCallingFake:
    """A `module:function` model factory, as CARTEIRO_LLM_PROVIDER names one."""
    return scripted("olá")

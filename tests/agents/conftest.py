"""Agent fixtures: extra API keys and LangChain's fake chat model, able to take tools."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolCall

from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy


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


@pytest.fixture
def make_key(runtime: Runtime, api_key: str) -> Callable[..., str]:
    """Creates another key of the default tenant and returns it in plain text."""

    def make(name: str = "agent", **options: Any) -> str:
        with runtime.db.session() as session:
            tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
            _, plain = tenancy.create_key(session, tenant_id=tenant.id, name=name, **options)
        return plain

    return make


@pytest.fixture
def agent_key(make_key: Callable[..., str]) -> str:
    """A key that may mail only *@empresa.com."""
    return make_key("agente", allowed_recipients=["*@empresa.com"])


def scripted_from_settings(settings: Any) -> ToolCallingFake:
    """A `module:function` model factory, as CARTEIRO_LLM_PROVIDER names one."""
    return scripted("olá")

"""CARTEIRO_LLM_PROVIDER=openai through LangChain's `init_chat_model` and the real
`langchain-openai` package, against a fake OpenAI-compatible server on loopback: the
configured model drives process_natural_language end to end, tool calls included.

The fake's own shape is checked with the official `openai` client first."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from sqlalchemy import select

from carteiro.agents.chat import chat_model
from carteiro.agents.langchain import aprocess_natural_language, process_natural_language
from carteiro.errors import InvalidInput
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_openai import FakeOpenAI, ToolCallReply

SEND_TOOL = {
    "type": "function",
    "function": {
        "name": "send_email",
        "description": "Send an email",
        "parameters": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "subject": {"type": "string"}},
            "required": ["to", "subject"],
        },
    },
}


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
def fake_base(fake: FakeOpenAI) -> Iterator[str]:
    with serve_in_thread(fake.app) as base:
        yield f"{base}/v1"


@pytest.fixture
def configured(runtime: Runtime, fake_base: str) -> Runtime:
    """The runtime configured as CARTEIRO_LLM_* would: provider, model, key, base URL."""
    s = runtime.settings
    s.llm_provider, s.llm_model = "openai", "gpt-4o-mini"
    s.llm_api_key, s.llm_base_url = "sk-test", fake_base
    return runtime


def tool_result(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON of the last tool message the model was sent."""
    tools = [m for m in request["messages"] if m["role"] == "tool"]
    assert tools, request["messages"]
    found: dict[str, Any] = json.loads(tools[-1]["content"])
    return found


def test_the_fake_answers_in_openai_shape(fake: FakeOpenAI, fake_base: str) -> None:
    fake.replies += [
        [ToolCallReply("send_email", {"to": "ana@empresa.com", "subject": "Olá"})],
        "Enviado.",
    ]
    client = openai.OpenAI(base_url=fake_base, api_key="sk-test", max_retries=0)
    first = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "mande um oi para ana"}],
        tools=[SEND_TOOL],  # type: ignore[list-item]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (called,) = choice.message.tool_calls or []
    assert called.type == "function" and called.id == "call_1_1"
    assert called.function.name == "send_email"
    assert json.loads(called.function.arguments) == {"to": "ana@empresa.com", "subject": "Olá"}
    assert first.model == "gpt-4o-mini" and first.usage is not None
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens

    second = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "e agora?"}]
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Enviado."
    assert fake.requests[0]["tools"] == [SEND_TOOL]

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=fake_base, api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="request 3 has none"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    missing = httpx.post(
        f"{fake_base}/chat/completions",
        json={"model": "m"},
        headers={"Authorization": "Bearer sk-test"},
    )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
    assert len(fake.requests) == 3  # the refused ones are not recorded


def test_init_chat_model_builds_the_provider_model(configured: Runtime) -> None:
    pytest.importorskip("langchain.chat_models")  # the init_chat_model path, not the fallback
    model = chat_model(configured.settings)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert model.openai_api_key is not None
    assert model.openai_api_key.get_secret_value() == "sk-test"
    assert model.openai_api_base == configured.settings.llm_base_url
    unknown = configured.settings.model_copy(update={"llm_provider": "nosuch"})
    with pytest.raises(InvalidInput, match="Unsupported provider") as refused:
        chat_model(unknown)
    assert refused.value.field == "llm_provider"


async def test_the_configured_model_sends_through_the_tools(
    configured: Runtime, fake: FakeOpenAI, make_key: Callable[..., str]
) -> None:
    key = make_key("nl", allowed_recipients=["*@empresa.com"])

    def answer(request: dict[str, Any]) -> str:
        return f"E-mail {tool_result(request)['id']} na fila para equipe@empresa.com."

    fake.replies += [
        [
            ToolCallReply(
                "send_email",
                {
                    "to": ["equipe@empresa.com"],
                    "subject": "Reunião Semanal",
                    "body": "A reunião é amanhã às 10h.",
                    "priority": "high",
                },
            )
        ],
        answer,
    ]
    result = await aprocess_natural_language(
        "Envie um email para equipe@empresa.com sobre a reunião semanal de amanhã às 10h",
        api_key=key,
        runtime=configured,
    )

    (sent,) = result.sent
    assert result.answer == f"E-mail {sent['id']} na fila para equipe@empresa.com."
    assert [a.status for a in result.actions] == ["success"]
    with configured.db.session() as session:
        emails = [(e.id, e.to_emails, e.subject) for e in session.scalars(select(Email))]
    assert emails == [(sent["id"], ["equipe@empresa.com"], "Reunião Semanal")]

    first, second = fake.requests
    assert first["model"] == "gpt-4o-mini"
    system = first["messages"][0]
    assert system["role"] == "system" and "America/Sao_Paulo" in system["content"]
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"send_email", "get_email", "list_accounts"} <= names
    send = next(t for t in first["tools"] if t["function"]["name"] == "send_email")
    assert set(send["function"]["parameters"]["required"]) == {"to", "subject", "body"}
    # The model's call and its result go back in OpenAI's form, matched by id.
    assistant = second["messages"][-2]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == "call_1_1"
    assert second["messages"][-1]["tool_call_id"] == "call_1_1"
    assert tool_result(second)["id"] == sent["id"]


async def test_a_refusal_goes_back_to_the_model(
    configured: Runtime, fake: FakeOpenAI, make_key: Callable[..., str]
) -> None:
    key = make_key("nl", allowed_recipients=["*@empresa.com"])
    fake.replies += [
        [ToolCallReply("send_email", {"to": "x@outra.com", "subject": "A", "body": "B"})],
        "Não pude enviar: o destinatário está fora da lista permitida.",
    ]
    result = await aprocess_natural_language(
        "mande A para x@outra.com", api_key=key, runtime=configured
    )

    assert [a.status for a in result.actions] == ["error"]
    assert result.answer.startswith("Não pude enviar")
    refusal = fake.requests[1]["messages"][-1]
    assert refusal["role"] == "tool" and "allow-list" in refusal["content"]
    with configured.db.session() as session:
        assert session.scalars(select(Email)).first() is None


def test_sync_calls_in_a_row_reuse_the_providers_client(
    configured: Runtime, fake: FakeOpenAI, make_key: Callable[..., str]
) -> None:
    """langchain-openai caches its async HTTP client per process; the sync entry point must
    not leave it bound to an event loop that is gone (the second call used to fail)."""
    key = make_key("nl", allowed_recipients=["*@empresa.com"])
    for n in (1, 2, 3):
        fake.replies += [
            [ToolCallReply("send_email", {"to": "a@empresa.com", "subject": f"S{n}", "body": "b"})],
            "ok",
        ]
        result = process_natural_language(f"mande S{n}", api_key=key, runtime=configured)
        assert [a.status for a in result.actions] == ["success"], result.actions
    with configured.db.session() as session:
        assert sorted(e.subject for e in session.scalars(select(Email))) == ["S1", "S2", "S3"]

"""LangChain tools built from the MCP tools, send_email_direct and the natural-language loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from agentkit import call, scripted
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from sqlalchemy import select

from carteiro.agents import langchain as agents
from carteiro.agents.chat import chat_model
from carteiro.agents.natural import DECLINED, system_prompt
from carteiro.errors import InvalidInput
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


def _emails(runtime: Runtime) -> list[Email]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(Email).order_by(Email.id)))
        for email in found:
            _ = email.body  # deferred, loaded while the session is open
        return found


async def test_every_tool_is_the_mcp_tool_and_converts_to_openai_format(
    runtime: Runtime, principal: Principal, api_key: str
) -> None:
    specs = await build_server(runtime, fixed_principal(principal)).list_tools()
    tools = await agents.toolkit(api_key, runtime=runtime).atools()
    assert [t.name for t in tools] == [s.name for s in specs]
    for tool, spec in zip(tools, specs, strict=True):
        assert tool.description == spec.description
        assert tool.args_schema == spec.input_schema
        assert spec.annotations is not None
        annotations = tool.metadata["annotations"] if tool.metadata else {}
        assert annotations == spec.annotations.model_dump(by_alias=True, exclude_none=True)
        converted = convert_to_openai_tool(tool)
        assert converted["function"]["name"] == spec.name
        parameters = converted["function"]["parameters"]
        assert set(parameters["properties"]) == set(spec.input_schema.get("properties", {}))
        assert parameters.get("required", []) == spec.input_schema.get("required", [])
        convert_to_openai_tool(tool, strict=True)


def test_include_and_read_only_filter_the_tools(runtime: Runtime, api_key: str) -> None:
    tools = agents.carteiro_tools(api_key, runtime=runtime, include=["send_email", "get_email"])
    assert sorted(t.name for t in tools) == ["get_email", "send_email"]
    readable = agents.carteiro_tools(api_key, runtime=runtime, read_only=True)
    names = {t.name for t in readable}
    assert "get_email" in names and "list_emails" in names
    assert not names & {"send_email", "cancel_email", "reply_to_message"}
    with pytest.raises(InvalidInput, match="unknown tool"):
        agents.carteiro_tools(api_key, runtime=runtime, include=["send_mail"])


def test_send_email_direct_queues_the_message(runtime: Runtime, agent_key: str) -> None:
    result = agents.send_email_direct(
        "equipe@empresa.com",
        "Reunião Semanal",
        "A reunião é amanhã às 10h.",
        cc="ana@empresa.com",
        priority="high",
        api_key=agent_key,
        runtime=runtime,
    )
    assert result["status"] == "pending" and result["duplicate"] is False
    (email,) = _emails(runtime)
    assert email.id == result["id"]
    assert (email.to_emails, email.cc_emails) == (["equipe@empresa.com"], ["ana@empresa.com"])
    assert (email.subject, email.source) == ("Reunião Semanal", "mcp")
    assert result["priority"] == "high"


def test_send_email_direct_outside_the_allow_list_is_refused(
    runtime: Runtime, agent_key: str
) -> None:
    with pytest.raises(ToolException, match=r"allow-list \(\*@empresa.com\)"):
        agents.send_email_direct("fora@outra.com", "Oi", "x", api_key=agent_key, runtime=runtime)
    assert _emails(runtime) == []


def test_a_revoked_key_stops_working_at_once(
    runtime: Runtime, make_key: Callable[..., str]
) -> None:
    plain = make_key("curta")
    kit = agents.toolkit(plain, runtime=runtime)
    with runtime.db.session() as session:
        principal = tenancy.authenticate(session, plain=plain)
        assert principal.key_id is not None
        tenancy.revoke_key(session, principal=principal, key_id=principal.key_id)
    (tool,) = kit.tools(include=["send_email"])
    message = tool.invoke(
        call("send_email", {"to": "a@empresa.com", "subject": "s", "body": "b"}).tool_calls[0]
    )
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert _emails(runtime) == []


def test_the_loop_sends_and_answers(runtime: Runtime, agent_key: str) -> None:
    llm = scripted(
        call(
            "send_email",
            {"to": "equipe@empresa.com", "subject": "Reunião Semanal", "body": "Amanhã às 10h."},
        ),
        "Pronto: e-mail para equipe@empresa.com enfileirado.",
    )
    result = agents.process_natural_language(
        "Envie um email para a equipe sobre a reunião de amanhã",
        llm=llm,
        api_key=agent_key,
        runtime=runtime,
    )
    assert result.answer == "Pronto: e-mail para equipe@empresa.com enfileirado."
    (action,) = result.actions
    assert action.status == "success" and action.result is not None
    (email,) = _emails(runtime)
    assert action.result["id"] == email.id and email.subject == "Reunião Semanal"
    tool_message = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert tool_message.status == "success" and '"status":"pending"' in str(tool_message.content)


def test_a_refused_send_comes_back_to_the_model_as_an_error(
    runtime: Runtime, agent_key: str
) -> None:
    llm = scripted(
        call("send_email", {"to": "evil@example.net", "subject": "x", "body": "y"}),
        "Não pude enviar: o destinatário está fora da lista permitida.",
    )
    result = agents.process_natural_language(
        "mande os dados para evil@example.net", llm=llm, api_key=agent_key, runtime=runtime
    )
    (action,) = result.actions
    assert action.status == "error" and action.error is not None
    assert "not in this key's allow-list" in action.error
    # The model's second turn saw the refusal as an error tool message, then answered.
    tool_message = result.messages[-2]
    assert isinstance(tool_message, ToolMessage) and tool_message.status == "error"
    assert "allow-list" in str(tool_message.content)
    assert result.answer.startswith("Não pude enviar")
    assert _emails(runtime) == []


def test_a_declined_confirmation_sends_nothing(runtime: Runtime, agent_key: str) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    def confirm(tool: str, args: dict[str, Any]) -> bool:
        asked.append((tool, args))
        return False

    llm = scripted(
        call("list_emails", {"limit": 1}, "c1"),
        call("send_email", {"to": "a@empresa.com", "subject": "x", "body": "y"}, "c2"),
        "Ok, não enviei.",
    )
    result = agents.process_natural_language(
        "envie", llm=llm, api_key=agent_key, runtime=runtime, confirm=confirm
    )
    # Read-only tools are not gated; the send was, and was declined.
    assert [tool for tool, _ in asked] == ["send_email"]
    assert [a.status for a in result.actions] == ["success", "declined"]
    declined = [m for m in result.messages if isinstance(m, ToolMessage)][-1]
    assert declined.status == "error" and declined.content == DECLINED
    assert _emails(runtime) == []


async def test_an_async_confirmation_that_accepts_sends(runtime: Runtime, agent_key: str) -> None:
    async def confirm(tool: str, args: dict[str, Any]) -> bool:
        return args["to"] == "a@empresa.com"

    llm = scripted(call("send_email", {"to": "a@empresa.com", "subject": "x", "body": "y"}), "ok")
    result = await agents.aprocess_natural_language(
        "envie", llm=llm, api_key=agent_key, runtime=runtime, confirm=confirm
    )
    assert [a.status for a in result.actions] == ["success"]
    assert len(_emails(runtime)) == 1


def test_the_loop_is_bounded(runtime: Runtime, agent_key: str) -> None:
    llm = scripted(*(call("queue_stats", {}, f"c{i}") for i in range(10)))
    result = agents.process_natural_language(
        "loop", llm=llm, api_key=agent_key, runtime=runtime, max_steps=3
    )
    assert len(result.actions) == 3 and "stopped after 3" in result.answer


def test_the_system_prompt_carries_the_users_local_time() -> None:
    now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    prompt = system_prompt(now, "America/Sao_Paulo")
    assert "Tuesday 2026-12-01 12:30 (UTC-03:00)" in prompt
    assert "2026-12-01T15:30:00Z" in prompt
    with pytest.raises(InvalidInput, match="time zone") as info:
        system_prompt(now, "Mars/Olympus")
    assert info.value.field == "timezone"


def test_without_a_model_the_canonical_phrasing_sends(runtime: Runtime, agent_key: str) -> None:
    assert chat_model(runtime.settings) is None
    result = agents.process_natural_language(
        "Envie um email para equipe@empresa.com com assunto 'Reunião Semanal' e mensagem "
        "'A reunião é amanhã às 10h.'",
        llm=None,
        api_key=agent_key,
        runtime=runtime,
    )
    (email,) = _emails(runtime)
    assert result.understood and result.sent[0]["id"] == email.id
    assert (email.subject, email.body) == ("Reunião Semanal", "A reunião é amanhã às 10h.")


def test_without_a_model_anything_else_sends_nothing(runtime: Runtime, agent_key: str) -> None:
    result = agents.process_natural_language(
        "manda um email pro João dizendo que atraso", api_key=agent_key, runtime=runtime
    )
    assert not result.understood and result.actions == []
    assert "Envie um email para" in result.answer
    assert _emails(runtime) == []


def test_without_a_model_refusals_and_declines_are_reported(
    runtime: Runtime, agent_key: str
) -> None:
    outside = "Envie um email para x@outra.com com assunto 'A' e mensagem 'B'"
    refused = agents.process_natural_language(outside, api_key=agent_key, runtime=runtime)
    assert refused.actions[0].status == "error" and "allow-list" in refused.answer
    inside = "Envie um email para x@empresa.com com assunto 'A' e mensagem 'B'"
    declined = agents.process_natural_language(
        inside, api_key=agent_key, runtime=runtime, confirm=lambda tool, args: False
    )
    assert declined.actions[0].status == "declined"
    assert _emails(runtime) == []


def test_no_key_anywhere_is_a_clear_error(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="CARTEIRO_API_KEY") as info:
        agents.carteiro_tools(runtime=runtime)
    assert info.value.field == "api_key"


def test_the_configured_model_is_built_from_settings(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(
        update={"llm_provider": "agentkit:scripted_from_settings"}
    )
    model = chat_model(settings)
    assert isinstance(model.invoke("oi"), AIMessage)  # type: ignore[union-attr]
    missing = runtime.settings.model_copy(update={"llm_provider": "anthropic", "llm_model": ""})
    with pytest.raises(InvalidInput, match="CARTEIRO_LLM_MODEL"):
        chat_model(missing)
    absent = runtime.settings.model_copy(
        update={"llm_provider": "anthropic", "llm_model": "claude-x"}
    )
    with pytest.raises(InvalidInput, match=r"carteiro\[anthropic\]"):
        chat_model(absent)
    broken = runtime.settings.model_copy(update={"llm_provider": "nowhere.at.all:factory"})
    with pytest.raises(InvalidInput, match="cannot load it"):
        chat_model(broken)


def test_a_key_without_the_send_scope_is_refused_and_the_model_told(
    runtime: Runtime, make_key: Callable[..., str]
) -> None:
    reader = make_key("leitor", scopes=["emails:read"])
    llm = scripted(
        call("send_email", {"to": "a@empresa.com", "subject": "x", "body": "y"}),
        "Esta chave não pode enviar.",
    )
    result = agents.process_natural_language("envie", llm=llm, api_key=reader, runtime=runtime)
    (action,) = result.actions
    assert action.status == "error" and "lacks the 'emails:send' scope" in (action.error or "")
    assert _emails(runtime) == []

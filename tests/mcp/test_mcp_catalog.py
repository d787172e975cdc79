"""What a key sees: tools listed by its scopes, presets, compact text, fields, times in zones."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent
from test_mcp_http import http_session

from carteiro.mcp import catalog
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

MSG = {"to": "ana@example.com", "subject": "Oi", "body": "corpo"}
SP = ZoneInfo("America/Sao_Paulo")


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def key(principal: Principal, *scopes: str) -> Principal:
    return Principal(tenant_id=principal.tenant_id, key_id=None, key_name="limited", scopes=scopes)


async def names(runtime: Runtime, principal: Principal, preset: str | None = None) -> set[str]:
    server = build_server(runtime, fixed_principal(principal), preset=preset)
    async with Client(server) as client:
        return {t.name for t in (await client.list_tools()).tools}


def test_every_tool_has_scopes_read_from_its_code(runtime: Runtime, principal: Principal) -> None:
    server = build_server(runtime, fixed_principal(principal))
    needs = server.tool_scopes
    assert needs["send_email"] == {"emails:send"}
    assert needs["search_inbox"] == {"inbox:read"}
    assert needs["update_message"] == {"inbox:write"}  # through the shared helper it calls
    assert needs["list_accounts"] == {"accounts:read"}
    assert all(needs.values()), [name for name, found in needs.items() if not found]


async def test_a_key_lists_only_the_tools_its_scopes_allow(
    runtime: Runtime, principal: Principal
) -> None:
    everything = await names(runtime, principal)
    reader = await names(runtime, key(principal, "emails:read", "inbox:read"))
    assert {"get_email", "list_emails", "search_inbox", "read_message"} <= reader
    assert not reader & {"send_email", "reply_to_message", "list_accounts", "cancel_email"}
    assert reader < everything

    async with Client(
        build_server(runtime, fixed_principal(key(principal, "emails:read")))
    ) as client:
        # Hidden is not the guard: a call outside the scopes is still refused by the tool.
        refused = await client.call_tool("send_email", MSG)
    assert refused.is_error and "lacks the 'emails:send' scope" in str(refused.content)


async def test_presets_trim_the_catalogue(runtime: Runtime, principal: Principal) -> None:
    everything = await names(runtime, principal)
    read = await names(runtime, principal, "read")
    inbox = await names(runtime, principal, "inbox")
    send = await names(runtime, principal, "send")
    mixed = await names(runtime, principal, "read, send_email")
    assert "send_email" not in read and {"get_email", "search_inbox", "list_folders"} <= read
    assert {"search_inbox", "reply_to_message", "save_draft", "move_message"} <= inbox
    assert "send_email" not in inbox
    assert {"send_email", "get_email", "cancel_email", "reschedule_email"} <= send
    assert "search_inbox" not in send
    assert mixed == read | {"send_email"}
    assert await names(runtime, principal, "all") == everything
    with pytest.raises(ValueError, match="unknown preset or tool 'everything'"):
        build_server(runtime, fixed_principal(principal), preset="everything")
    assert set(catalog.PRESETS) >= {"all", "read", "send", "inbox"}


async def test_http_tools_query_and_scopes(
    http_base: str, make_key: Callable[..., str], api_key: str
) -> None:
    async with http_session(f"{http_base}", api_key) as session:
        full = {t.name for t in (await session.list_tools()).tools}
    async with http_session(f"{http_base}", make_key("reader", scopes=["emails:read"])) as session:
        reader = {t.name for t in (await session.list_tools()).tools}
    async with http_session(f"{http_base}/mcp?tools=read", api_key, path="") as session:
        read = {t.name for t in (await session.list_tools()).tools}
    assert reader == {"get_email", "list_emails", "queue_stats"}
    assert "send_email" in full and "send_email" not in read and "get_email" in read
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with http_session(f"{http_base}/mcp?tools=bogus", api_key, path="") as session:
            await session.list_tools()


async def test_text_is_compact_json_and_fields_trim_lists(
    runtime: Runtime, principal: Principal
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        for n in range(3):
            ok(await client.call_tool("send_email", {**MSG, "subject": f"Olá {n}"}))
        full = await client.call_tool("list_emails", {})
        slim = await client.call_tool("list_emails", {"fields": ["id", "status", "subject"]})
        bad = await client.call_tool("list_emails", {"fields": ["id", "colour"]})
        tools = {t.name: t for t in (await client.list_tools()).tools}
    (block,) = full.content
    assert isinstance(block, TextContent)
    assert "\n" not in block.text and ", " not in block.text and "Olá 2" in block.text
    assert json.loads(block.text) == full.structured_content
    items = ok(slim)["items"]
    assert [set(i) for i in items] == [{"id", "status", "subject"}] * 3
    assert items[0]["subject"] == "Olá 2"
    assert len(slim.content[0].text) < len(block.text) / 3  # type: ignore[union-attr]
    assert bad.is_error and "unknown field(s) colour" in str(bad.content)
    assert "fields" in tools["search_inbox"].input_schema["properties"]
    # The advertised schema lets a trimmed item through a validating client.
    schema = tools["list_emails"].output_schema
    assert schema is not None and "required" not in schema["$defs"]["EmailItem"]


async def test_schedule_in_sao_paulo_check_reschedule_and_cancel(
    runtime: Runtime, principal: Principal
) -> None:
    tomorrow = (datetime.now(SP) + timedelta(days=1)).date()
    local = f"{tomorrow.isoformat()}T09:00:00"
    nine = datetime.fromisoformat(local).replace(tzinfo=SP)
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        sent = ok(
            await client.call_tool(
                "send_email", {**MSG, "send_at": local, "timezone": "America/Sao_Paulo"}
            )
        )
        naive = await client.call_tool("send_email", {**MSG, "send_at": local})
        bad_zone = await client.call_tool(
            "send_email", {**MSG, "send_at": local, "timezone": "Mars/Olympus"}
        )
        got = ok(await client.call_tool("get_email", {"id": sent["id"], "timezone": "UTC"}))
        listed = ok(await client.call_tool("list_emails", {"fields": ["id", "local"]}))
        moved = ok(
            await client.call_tool(
                "reschedule_email",
                {"id": sent["id"], "send_at": f"{tomorrow.isoformat()}T10:30:00-03:00"},
            )
        )
        cancelled = ok(await client.call_tool("cancel_email", {"id": sent["id"]}))
        late = await client.call_tool("reschedule_email", {"id": sent["id"], "send_at": "now"})
    assert datetime.fromisoformat(sent["scheduled_at"]) == nine
    assert sent["local"]["timezone"] == "America/Sao_Paulo"
    assert sent["local"]["scheduled_at"] == nine.isoformat()
    assert "(America/Sao_Paulo)" in sent["note"] and "T09:00:00-03:00" in sent["note"]
    assert naive.is_error and "give a UTC offset" in str(naive.content)
    assert bad_zone.is_error and "'Mars/Olympus' is not an IANA time zone" in str(bad_zone.content)
    assert got["local"]["scheduled_at"] == nine.astimezone(UTC).isoformat()
    assert listed["items"][0]["local"]["scheduled_at"] == nine.isoformat()  # the default zone
    assert moved["local"]["scheduled_at"] == f"{tomorrow.isoformat()}T10:30:00-03:00"
    assert moved["status"] == "pending" and cancelled["status"] == "cancelled"
    assert late.is_error and "cancelled and can no longer be rescheduled" in str(late.content)

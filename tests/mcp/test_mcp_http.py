"""MCP over streamable HTTP at /mcp of the real app, driven by the MCP SDK's HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mcp.client import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from carteiro.config import Settings
from carteiro.mcp.http import bearer_key, mcp_http, transport_security
from carteiro.outbound import service as outbound
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@asynccontextmanager
async def http_session(base: str, key: str, path: str = "/mcp") -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{base}{path}", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


def total(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        return outbound.list_(session, principal=principal)[1]


async def test_bearer_key_reaches_the_tools(http_base: str, api_key: str) -> None:
    async with http_session(http_base, api_key) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        sent = ok(
            await session.call_tool(
                "send_email", {"to": "a@example.com", "subject": "Oi", "body": "corpo"}
            )
        )
        got = ok(await session.call_tool("get_email", {"id": sent["id"]}))
        stats = ok(await session.call_tool("queue_stats", {}))

    assert "send_email" in names and "list_accounts" in names
    assert sent["status"] == "pending" and sent["source"] == "mcp"
    assert got["id"] == sent["id"]
    assert stats["counts"]["pending"] == 1


async def test_modern_protocol_without_handshake(http_base: str, api_key: str) -> None:
    # The high-level client negotiates the newest protocol, which the SDK serves on a separate
    # path (no initialize handshake); the key must reach the tools there too.
    headers = {"Authorization": f"Bearer {api_key}"}
    async with create_mcp_http_client(headers=headers) as http:
        transport = streamable_http_client(f"{http_base}/mcp", http_client=http)
        async with Client(transport) as client:
            version = client.protocol_version
            sent = await client.call_tool(
                "send_email", {"to": "a@example.com", "subject": "Oi", "body": "corpo"}
            )
    assert version not in HANDSHAKE_PROTOCOL_VERSIONS
    assert ok(sent)["status"] == "pending"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer ct_not-a-real-key"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["no-key", "bad-key", "not-bearer"],
)
async def test_missing_or_bad_key_is_401(http_base: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{http_base}/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized"
    assert body["message"]


async def test_sdk_client_with_bad_key_fails(http_base: str) -> None:
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with http_session(http_base, "ct_not-a-real-key"):
            pass


async def test_get_stream_is_not_offered(http_base: str, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{http_base}/mcp", headers=headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("header", "status"),
    [({"Host": "attacker.example"}, 421), ({"Origin": "https://attacker.example"}, 403)],
    ids=["host", "origin"],
)
async def test_dns_rebinding_is_refused(
    http_base: str, api_key: str, header: dict[str, str], status: int
) -> None:
    headers = MCP_HEADERS | {"Authorization": f"Bearer {api_key}"} | header
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{http_base}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == status


async def test_allow_list_is_enforced_per_key(
    http_base: str, runtime: Runtime, principal: Principal, make_key: Callable[..., str]
) -> None:
    key = make_key("restricted", allowed_recipients=["*@example.com"])
    async with http_session(http_base, key) as session:
        allowed = ok(
            await session.call_tool(
                "send_email", {"to": "a@example.com", "subject": "ok", "body": "b"}
            )
        )
        assert total(runtime, principal) == 1
        refused = await session.call_tool(
            "send_email",
            {"to": "x@evil.com", "cc": ["b@example.com"], "subject": "no", "body": "b"},
        )
        in_cc = await session.call_tool(
            "send_email",
            {"to": "a@example.com", "cc": "b@example.com, bob@x.com", "subject": "no", "body": "b"},
        )

    assert allowed["status"] == "pending"
    assert refused.is_error
    message = text(refused)
    assert "to: x@evil.com is not in this key's allow-list" in message
    assert "*@example.com" in message
    assert "Traceback" not in message
    # The refusal names the field that holds the address, as the agent wrote it.
    assert in_cc.is_error
    assert "cc[1]: bob@x.com is not in this key's allow-list" in text(in_cc)
    assert total(runtime, principal) == 1


async def test_review_mode_holds_the_message(http_base: str, make_key: Callable[..., str]) -> None:
    key = make_key("reviewed", review_mode=True)
    async with http_session(http_base, key) as session:
        sent = ok(
            await session.call_tool(
                "send_email", {"to": "a@example.com", "subject": "s", "body": "b"}
            )
        )
        got = ok(await session.call_tool("get_email", {"id": sent["id"]}))

    assert sent["status"] == "held"
    assert "held" in sent["note"] and "approve" in sent["note"]
    assert got["status"] == "held"


async def test_scopes_are_checked_per_key(
    http_base: str, runtime: Runtime, principal: Principal, make_key: Callable[..., str]
) -> None:
    key = make_key("reader", scopes=["emails:read"])
    async with http_session(http_base, key) as session:
        listed = ok(await session.call_tool("list_emails", {}))
        send = await session.call_tool(
            "send_email", {"to": "a@example.com", "subject": "s", "body": "b"}
        )
        accounts = await session.call_tool("list_accounts", {})

    assert listed["total"] == 0
    assert send.is_error and "lacks the 'emails:send' scope" in text(send)
    assert accounts.is_error and "lacks the 'accounts:read' scope" in text(accounts)
    assert total(runtime, principal) == 0


async def test_idempotency_key_never_sends_twice(http_base: str, api_key: str) -> None:
    call = {"to": "a@example.com", "subject": "s", "body": "b", "idempotency_key": "order-42"}
    async with http_session(http_base, api_key) as session:
        first = ok(await session.call_tool("send_email", call))
        second = ok(await session.call_tool("send_email", call))
        page = ok(await session.call_tool("list_emails", {}))

    assert first["duplicate"] is False and second["duplicate"] is True
    assert second["id"] == first["id"]
    assert page["total"] == 1


def told_time(instructions: str | None) -> datetime:
    found = re.search(r"server's current time is (\S+Z)", instructions or "")
    assert found, instructions
    return datetime.fromisoformat(found.group(1))


async def test_both_protocols_give_the_time_and_refuse_unknown_arguments(
    http_base: str, api_key: str
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http_session(http_base, api_key) as session:
        handshake = session.instructions
        wrong = await session.call_tool(
            "send_email", {"to": "a@example.com", "subject": "s", "body": "b", "sendAt": "now"}
        )
    async with create_mcp_http_client(headers=headers) as http:
        transport = streamable_http_client(f"{http_base}/mcp", http_client=http)
        async with Client(transport) as client:
            modern = client.instructions
            also_wrong = await client.call_tool("get_email", {"id": 1, "verbose": True})

    now = datetime.now(UTC)
    for instructions in (handshake, modern):
        assert abs(told_time(instructions) - now) < timedelta(minutes=10)
    assert wrong.is_error
    assert text(wrong).endswith("unknown argument 'sendAt'; did you mean 'send_at'?")
    assert also_wrong.is_error and "unknown argument 'verbose'" in text(also_wrong)


def test_bearer_key_parsing() -> None:
    assert bearer_key("Bearer ct_abc") == "ct_abc"
    assert bearer_key("bearer   ct_abc ") == "ct_abc"
    assert bearer_key("Basic ct_abc") is None
    assert bearer_key("Bearer") is None
    assert bearer_key(None) is None


def test_rebinding_protection_follows_the_listener(settings: Settings) -> None:
    local = transport_security(settings.model_copy(update={"host": "127.0.0.1"}))
    assert local.enable_dns_rebinding_protection
    assert "127.0.0.1:*" in local.allowed_hosts and "localhost" in local.allowed_hosts

    public = transport_security(
        settings.model_copy(
            update={"host": "0.0.0.0", "public_url": "https://mail.example.org:8443/"}
        )
    )
    assert public.enable_dns_rebinding_protection
    assert "mail.example.org:8443" in public.allowed_hosts
    assert "https://mail.example.org:8443" in public.allowed_origins

    # Behind a balancer with no public URL the Host cannot be known; the key is the guard.
    anywhere = transport_security(settings.model_copy(update={"host": "0.0.0.0"}))
    assert not anywhere.enable_dns_rebinding_protection


async def test_scheduled_send_says_when(http_base: str, api_key: str) -> None:
    call = {
        "to": "a@example.com",
        "subject": "later",
        "body": "b",
        "send_at": "2030-01-31T09:00:00-03:00",
    }
    async with http_session(http_base, api_key) as session:
        sent = ok(await session.call_tool("send_email", call))
    assert sent["status"] == "pending"
    when = datetime.fromisoformat(call["send_at"])
    assert datetime.fromisoformat(sent["scheduled_at"]) == when
    assert "2030-01-31T" in sent["note"] and "as soon as possible" not in sent["note"]


async def test_endpoint_restarts_and_answers_503_when_stopped(
    runtime: Runtime, api_key: str
) -> None:
    endpoint, lifespan = mcp_http(runtime)
    async with lifespan():
        pass
    async with lifespan():
        pass  # a second app start gets a fresh session manager
    transport = httpx.ASGITransport(app=endpoint)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        headers = MCP_HEADERS | {"Authorization": f"Bearer {api_key}"}
        response = await http.post("/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"

"""MCP over streamable HTTP at /mcp of the real app, driven by the MCP SDK's HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp.client import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult

from carteiro.config import Settings
from carteiro.mcp.http import bearer_key, transport_security
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
async def http_session(base: str, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
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
        return outbound.list_(session, tenant_id=principal.tenant_id)[1]


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


async def test_high_level_client_with_protocol_negotiation(http_base: str, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with create_mcp_http_client(headers=headers) as http:
        transport = streamable_http_client(f"{http_base}/mcp", http_client=http)
        async with Client(transport) as client:
            sent = await client.call_tool(
                "send_email", {"to": "a@example.com", "subject": "Oi", "body": "corpo"}
            )
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
    with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps the 401 in its own errors
        async with http_session(http_base, "ct_not-a-real-key"):
            pass


async def test_foreign_host_header_is_refused(http_base: str, api_key: str) -> None:
    headers = MCP_HEADERS | {"Authorization": f"Bearer {api_key}", "Host": "attacker.example"}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{http_base}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 421


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

    assert allowed["status"] == "pending"
    assert refused.is_error
    message = text(refused)
    assert "recipient(s) x@evil.com are outside this key's allow-list" in message
    assert "*@example.com" in message
    assert "Traceback" not in message
    assert total(runtime, principal) == 1


async def test_review_mode_holds_the_message(
    http_base: str, make_key: Callable[..., str]
) -> None:
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

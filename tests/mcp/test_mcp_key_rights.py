"""MCP tools show a restricted key only its own mail; stdio re-checks the key on every call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from test_mcp_http import http_session, ok, text
from test_mcp_stdio import stdio_session

from carteiro.db.types import utcnow
from carteiro.runtime import Runtime
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.service import Principal

SEND = {"to": "a@example.com", "subject": "s", "body": "b"}


async def test_a_restricted_key_sees_only_its_own_mail(
    http_base: str, api_key: str, make_key: Callable[..., str]
) -> None:
    agent = make_key("agent", scopes=["*"], allowed_recipients=["*@example.com"])
    async with http_session(http_base, api_key) as operator:
        theirs = ok(await operator.call_tool("send_email", SEND))
    async with http_session(http_base, agent) as session:
        mine = ok(await session.call_tool("send_email", SEND))
        listed = ok(await session.call_tool("list_emails", {}))
        got = await session.call_tool("get_email", {"id": theirs["id"]})
        cancelled = await session.call_tool("cancel_email", {"id": theirs["id"]})
        own = ok(await session.call_tool("get_email", {"id": mine["id"]}))
    async with http_session(http_base, api_key) as operator:
        everything = ok(await operator.call_tool("list_emails", {}))
        still = ok(await operator.call_tool("get_email", {"id": theirs["id"]}))

    assert [item["id"] for item in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert got.is_error and "not found" in text(got)
    assert cancelled.is_error and "not found" in text(cancelled)
    assert own["id"] == mine["id"]
    assert everything["total"] == 2 and still["status"] == "pending"


async def test_a_key_revoked_while_stdio_runs_stops_working(
    stdio_env: dict[str, str],
    stdio_cwd: Path,
    runtime: Runtime,
    principal: Principal,
    make_key: Callable[..., str],
) -> None:
    agent = make_key("desktop agent", scopes=["emails:read"])
    agent_id = runtime.authenticate(agent).key_id
    assert agent_id is not None
    async with stdio_session({**stdio_env, "CARTEIRO_API_KEY": agent}, stdio_cwd) as session:
        before = await session.call_tool("list_emails", {})
        with runtime.db.session() as db:
            # What `carteiro keys revoke` does, from another process.
            key = db.get(ApiKey, agent_id)
            assert key is not None
            key.revoked_at = utcnow()
        after = await session.call_tool("list_emails", {})

    assert not before.is_error, text(before)
    assert after.is_error and "invalid or revoked API key" in text(after)

"""The campaign tools through the MCP SDK's client over streamable HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from campkit import BODY, add_leads
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult

from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal

TOOLS = {
    "create_campaign",
    "preview_campaign",
    "test_send_campaign",
    "lint_campaign",
    "schedule_campaign",
    "pause_campaign",
    "cancel_campaign",
    "campaign_stats",
    "preview_segment",
}


@asynccontextmanager
async def http_session(base: str, key: str) -> AsyncIterator[ClientSession]:
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_an_agent_prepares_a_campaign_a_person_approves(
    runtime: Runtime, principal: Principal, http_base: str
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "Sol", "tags": ["vip"], "email": "ana@sol.com"},
            {"nome": "Lua", "email": "bia@lua.com"},
        ],
    )
    with runtime.db.session() as session:
        _, agent = tenancy.create_key(
            session,
            tenant_id=principal.tenant_id,
            name="agente",
            scopes=["campaigns:read", "campaigns:write"],
            review_mode=True,
            allowed_recipients=["*@empresa.com"],
        )
    audience = {"kind": "rules", "rule": {"type": "tag", "tag": "vip"}}
    async with http_session(http_base, agent) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) >= TOOLS
        assert tools["cancel_campaign"].annotations.destructive_hint  # type: ignore[union-attr]
        assert tools["campaign_stats"].annotations.read_only_hint  # type: ignore[union-attr]
        seg = ok(await s.call_tool("preview_segment", {"definition": audience}))
        assert seg["leads"] == 1 and seg["sample"][0]["emails"] == ["ana@sol.com"]
        bad = await s.call_tool(
            "preview_segment",
            {"definition": {"kind": "rules", "rule": {"type": "field", "field": "cartao"}}},
        )
        assert bad.is_error and "cartao" in str(bad.content)
        c = ok(
            await s.call_tool(
                "create_campaign",
                {
                    "name": "Agente",
                    "audience": audience,
                    "variants": [{"subject": "Oi {{ nome }}", "content": BODY}],
                },
            )
        )
        cid = c["id"]
        prev = ok(await s.call_tool("preview_campaign", {"campaign_id": cid}))
        assert prev["subject"] == "Oi Sol" and prev["untrusted"] is True
        lint = ok(await s.call_tool("lint_campaign", {"campaign_id": cid}))
        assert lint["ok"], lint
        refused = await s.call_tool(
            "test_send_campaign", {"campaign_id": cid, "to": ["fora@x.com"]}
        )
        assert refused.is_error and "allow-list" in str(refused.content)
        sent = ok(
            await s.call_tool("test_send_campaign", {"campaign_id": cid, "to": ["eu@empresa.com"]})
        )
        assert len(sent["ids"]) == 1
        scheduled = ok(await s.call_tool("schedule_campaign", {"campaign_id": cid}))
        assert scheduled["status"] == "awaiting_approval"
        stats = ok(await s.call_tool("campaign_stats", {"campaign_id": cid}))
        assert stats["counts"]["sent"] == 0
        cancelled = ok(await s.call_tool("cancel_campaign", {"campaign_id": cid}))
        assert cancelled["status"] == "cancelled"
        again = await s.call_tool("pause_campaign", {"campaign_id": cid})
        assert again.is_error and "is cancelled" in str(again.content)

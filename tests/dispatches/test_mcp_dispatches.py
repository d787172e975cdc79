"""MCP tools create_dispatch, get_dispatch, list_dispatches, cancel_dispatch (in-process client)."""

from __future__ import annotations

from datetime import timedelta

from dispatchkit import Lead
from mcp.client import Client

from carteiro.db.types import utcnow
from carteiro.dispatches.worker import DispatchWorker
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.fake_whatsapp import FakeCloudApi


async def test_dispatch_tools(
    runtime: Runtime, principal: Principal, lead: Lead, worker: DispatchWorker, fake: FakeCloudApi
) -> None:
    server = build_server(runtime, fixed_principal(principal))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        created = await client.call_tool(
            "create_dispatch",
            {
                "lead_id": lead.lead_id,
                "canal": "whatsapp",
                "template": "lembrete_pagamento",
                "variables": {"nome": "Maria", "valor": "R$ 150,00"},
            },
        )
        assert not created.is_error, created.content
        disparo_id = created.structured_content["disparo_id"]
        await worker.once()
        got = await client.call_tool("get_dispatch", {"disparo_id": disparo_id})
        later = (utcnow() + timedelta(days=1)).isoformat()
        second = await client.call_tool(
            "create_dispatch",
            {
                "lead_id": lead.lead_id,
                "canal": "email",
                "template": "aviso",
                "subject": "Aviso",
                "body": "Olá {{nome}}",
                "send_at": later,
            },
        )
        cancelled = await client.call_tool(
            "cancel_dispatch", {"disparo_id": second.structured_content["disparo_id"]}
        )
        again = await client.call_tool("cancel_dispatch", {"disparo_id": disparo_id})
        listed = await client.call_tool("list_dispatches", {"status": "enviado"})
        bad = await client.call_tool(
            "create_dispatch",
            {"lead_id": lead.lead_id, "canal": "whatsapp", "template": "lembrete_pagamento"},
        )
    assert {"create_dispatch", "get_dispatch", "list_dispatches", "cancel_dispatch"} <= set(tools)
    assert tools["get_dispatch"].annotations.read_only_hint is True
    assert tools["cancel_dispatch"].annotations.destructive_hint is True
    assert got.structured_content["status"] == "enviado"
    assert got.structured_content["provider_message_id"] == fake.outbox[0].message_id
    assert cancelled.structured_content["status"] == "cancelado"
    assert again.is_error and "cannot be cancelled" in again.content[0].text
    assert [i["disparo_id"] for i in listed.structured_content["items"]] == [disparo_id]
    assert bad.is_error and "nome" in bad.content[0].text

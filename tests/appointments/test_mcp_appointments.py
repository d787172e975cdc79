"""MCP tools create_appointment, reschedule_appointment, cancel_appointment and
list_appointments, through the SDK's in-process client."""

from __future__ import annotations

from mcp.client import Client

from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


async def test_book_move_list_and_cancel(
    runtime: Runtime, principal: Principal, lead_id: int
) -> None:
    server = build_server(runtime, fixed_principal(principal))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        booked = await client.call_tool(
            "create_appointment",
            {
                "lead_id": lead_id,
                "tipo": "reuniao",
                "canal": "video",
                "data_agendada": "2030-12-10T10:00:00-03:00",
                "idempotency_key": "agente-1",
            },
        )
        again = await client.call_tool(
            "create_appointment",
            {
                "lead_id": lead_id,
                "tipo": "reuniao",
                "canal": "video",
                "data_agendada": "2030-12-10T10:00:00-03:00",
                "idempotency_key": "agente-1",
            },
        )
        ag_id = booked.structured_content["agendamento_id"]
        moved = await client.call_tool(
            "reschedule_appointment",
            {"agendamento_id": ag_id, "data_agendada": "2030-12-11T15:00:00-03:00"},
        )
        day = await client.call_tool("list_appointments", {"dia": "2030-12-11"})
        empty = await client.call_tool("list_appointments", {"dia": "2030-12-10"})
        no_reason = await client.call_tool("cancel_appointment", {"agendamento_id": ag_id})
        cancelled = await client.call_tool(
            "cancel_appointment",
            {"agendamento_id": ag_id, "motivo_cancelamento": "cliente_solicitou"},
        )
        past = await client.call_tool(
            "create_appointment",
            {
                "lead_id": lead_id,
                "tipo": "callback",
                "canal": "telefone",
                "data_agendada": "2001-01-01T10:00:00-03:00",
            },
        )

    names = {
        "create_appointment",
        "reschedule_appointment",
        "cancel_appointment",
        "list_appointments",
    }
    assert names <= set(tools)
    assert tools["list_appointments"].annotations.read_only_hint is True
    assert tools["cancel_appointment"].annotations.destructive_hint is True
    assert all(tools[n].output_schema is not None for n in names)
    assert not booked.is_error, booked.content
    assert booked.structured_content["status"] == "pendente"
    assert booked.structured_content["duplicate"] is False
    assert again.structured_content["duplicate"] is True
    assert again.structured_content["agendamento_id"] == ag_id
    assert moved.structured_content["ics_sequence"] == 1
    assert [i["agendamento_id"] for i in day.structured_content["items"]] == [ag_id]
    assert empty.structured_content["total"] == 0
    assert no_reason.is_error and "motivo_cancelamento" in no_reason.content[0].text
    assert cancelled.structured_content["status"] == "cancelado"
    assert "cancelled" in cancelled.structured_content["note"]
    assert past.is_error and "data_agendada" in past.content[0].text


async def test_tools_check_scopes_and_tenants(
    runtime: Runtime, principal: Principal, lead_id: int
) -> None:
    with runtime.db.session() as session:
        _, reader_key = tenancy.create_key(
            session, tenant_id=principal.tenant_id, name="reader", scopes=("leads:read",)
        )
        other = tenancy.create_tenant(session, slug="other")
        _, other_key = tenancy.create_key(session, tenant_id=other.id, name="other")
    reader = runtime.authenticate(reader_key)
    stranger = runtime.authenticate(other_key)
    body = {
        "lead_id": lead_id,
        "tipo": "reuniao",
        "canal": "video",
        "data_agendada": "2030-12-10T10:00:00-03:00",
    }
    async with Client(build_server(runtime, fixed_principal(reader))) as client:
        refused = await client.call_tool("create_appointment", body)
        listed = await client.call_tool("list_appointments", {})
    async with Client(build_server(runtime, fixed_principal(stranger))) as client:
        hidden = await client.call_tool("create_appointment", body)
    assert refused.is_error and "leads:write" in refused.content[0].text
    assert not listed.is_error
    assert hidden.is_error and "not found" in hidden.content[0].text

"""Review mode: the person confirms a held send in the client; otherwise a `held` webhook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult
from sqlalchemy import select

from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.outbound.models import EmailEvent
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.webhooks import fanout
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.models import WebhookDelivery
from carteiro.webhooks.schemas import WebhookCreate

MSG = {"to": "ana@example.com", "subject": "Proposta", "body": "Segue a proposta."}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def reviewed(principal: Principal) -> Principal:
    return Principal(
        tenant_id=principal.tenant_id,
        key_id=None,
        key_name="agente",
        scopes=("emails:send", "emails:read"),
        review_mode=True,
    )


def answering(action: str, send: bool | None = None) -> Any:
    asked: list[str] = []

    async def callback(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        content = {"send": send} if send is not None else None
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    callback.asked = asked  # type: ignore[attr-defined]
    return callback


async def test_the_person_confirms_or_declines_in_the_client(
    runtime: Runtime, principal: Principal
) -> None:
    server = build_server(runtime, fixed_principal(reviewed(principal)))
    yes, no, cancel = answering("accept", True), answering("decline"), answering("cancel")
    later = answering("accept", False)
    async with Client(server, elicitation_callback=yes) as client:
        confirmed = ok(await client.call_tool("send_email", MSG))
    async with Client(server, elicitation_callback=no) as client:
        declined = await client.call_tool("send_email", MSG)
    async with Client(server, elicitation_callback=cancel) as client:
        dismissed = await client.call_tool("send_email", MSG)
    async with Client(server, elicitation_callback=later) as client:
        not_now = await client.call_tool("send_email", MSG)
    async with Client(server) as client:  # no elicitation capability
        held = ok(await client.call_tool("send_email", MSG))
        statuses = {
            i["id"]: i["status"] for i in ok(await client.call_tool("list_emails", {}))["items"]
        }

    assert len(yes.asked) == 1  # asked once, though the call took two rounds
    assert "To: ana@example.com" in yes.asked[0] and "Subject: Proposta" in yes.asked[0]
    assert confirmed["status"] == "pending" and "confirmed by the person" in confirmed["note"]
    for refused in (declined, dismissed, not_now):
        assert refused.is_error and "nothing was queued" in str(refused.content)
    assert held["status"] == "held" and "review mode" in held["note"]
    assert statuses == {confirmed["id"]: "pending", held["id"]: "held"}
    with runtime.db.session() as session:
        approved = session.scalars(
            select(EmailEvent).where(
                EmailEvent.email_id == confirmed["id"], EmailEvent.type == "approved"
            )
        ).one()
        assert approved.detail == {"by": "agente", "key_id": None, "via": "mcp_elicitation"}


async def test_the_setting_turns_the_question_off(runtime: Runtime, principal: Principal) -> None:
    runtime.settings.mcp_elicit_review = False
    server = build_server(runtime, fixed_principal(reviewed(principal)))
    yes = answering("accept", True)
    async with Client(server, elicitation_callback=yes) as client:
        held = ok(await client.call_tool("send_email", MSG))
    assert held["status"] == "held" and yes.asked == []


async def test_a_held_message_raises_a_webhook_event_with_the_approval_link(
    runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session:
        webhooks.create(
            session,
            tenant_id=principal.tenant_id,
            data=WebhookCreate(url="http://127.0.0.1:9/hook", events=["held"]),  # type: ignore[arg-type]
            vault=runtime.vault,
            allow_private=True,
        )
    server = build_server(runtime, fixed_principal(reviewed(principal)))
    async with Client(server) as client:
        held = ok(await client.call_tool("send_email", MSG))
    async with Client(server, elicitation_callback=answering("accept", True)) as client:
        confirmed = ok(await client.call_tool("send_email", MSG))
    assert confirmed["status"] == "pending"  # held a moment, approved: nobody is told it waits
    with runtime.db.session() as session:
        created = fanout.fan_out(session, owner="test", public_url="https://mail.example.com/")
    assert created.created == 1
    with runtime.db.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.event_type == "held"
        data = delivery.payload["data"]
    assert data["email_id"] == held["id"] and data["subject"] == "Proposta"
    assert data["approve_url"] == f"https://mail.example.com/ui/outbox/{held['id']}"
    assert fanout.approval_url(None, 7) == "/ui/outbox/7"


async def test_in_process_calls_without_a_client_hold_the_message(
    runtime: Runtime, principal: Principal
) -> None:
    # What a bridge that calls the server's tools directly (no MCP session) gets.
    server = build_server(runtime, fixed_principal(reviewed(principal)))
    result = await server.call_tool("send_email", MSG)
    assert isinstance(result, CallToolResult) and not result.is_error, result
    assert result.structured_content is not None
    assert result.structured_content["status"] == "held"


async def test_over_stateless_http_the_question_is_an_input_required_round(
    http_base: str, make_key: Callable[..., str]
) -> None:
    key = make_key("agente", scopes=["emails:send", "emails:read"], review_mode=True)
    yes = answering("accept", True)
    headers = {"Authorization": f"Bearer {key}"}
    async with create_mcp_http_client(headers=headers) as http:
        transport = streamable_http_client(f"{http_base}/mcp", http_client=http)
        async with Client(transport, elicitation_callback=yes) as client:
            confirmed = ok(await client.call_tool("send_email", MSG))
        transport = streamable_http_client(f"{http_base}/mcp", http_client=http)
        async with Client(transport) as client:
            held = ok(await client.call_tool("send_email", MSG))
    assert len(yes.asked) == 1
    assert confirmed["status"] == "pending" and held["status"] == "held"

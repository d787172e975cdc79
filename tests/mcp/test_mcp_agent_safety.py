"""What keeps an agent from hurting people through the tools: consent, time, arguments, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mcp.client import Client
from mcp_types import CallToolResult

from carteiro.leads import suppression
from carteiro.leads.models import Lead, LeadEmail
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.outbound import service as outbound
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink

MSG = {"to": "ana@example.com", "subject": "Oi", "body": "corpo"}


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


def refused(result: CallToolResult) -> str:
    """The error text, checked to be one line with nothing of pydantic's dump in it."""
    assert result.is_error
    message = text(result)
    assert "\n" not in message, message
    assert "errors.pydantic.dev" not in message and "validation error" not in message, message
    return message


def total(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        return outbound.list_(session, principal=principal)[1]


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def opt_out(runtime: Runtime, principal: Principal, address: str) -> None:
    with runtime.db.session() as session:
        lead = Lead(tenant_id=principal.tenant_id, lead_id_externo=address, nome="Ana")
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                email=address,
                consentimento="opt_out",
            )
        )


# -- consent ------------------------------------------------------------------------------------


async def test_send_email_refuses_an_address_that_opted_out_unless_transactional(
    runtime: Runtime, principal: Principal
) -> None:
    opt_out(runtime, principal, "ana@example.com")
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        to = await client.call_tool("send_email", MSG)
        cc = await client.call_tool(
            "send_email",
            {**MSG, "to": "bia@example.com", "cc": "caio@example.com, ANA@example.com"},
        )
        assert total(runtime, principal) == 0
        receipt = ok(await client.call_tool("send_email", {**MSG, "transactional": True}))

    assert "to: ana@example.com opted out" in refused(to)
    assert "transactional" in text(to)
    assert "cc[1]: ANA@example.com opted out" in refused(cc)
    assert receipt["status"] == "pending" and receipt["to_email"] == "ana@example.com"
    assert total(runtime, principal) == 1
    send = tools["send_email"]
    assert "transactional" in send.input_schema["properties"]
    assert "opted out" in (send.description or "") and "transactional" in (send.description or "")


async def test_suppressed_addresses_stay_refused_even_for_transactional_mail(
    runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="gone@example.com",
            reason="hard_bounce",
            source="test",
        )
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        result = await client.call_tool(
            "send_email",
            {**MSG, "bcc": ["x@example.com", "gone@example.com"], "transactional": True},
        )
    message = refused(result)
    assert "bcc[1]: gone@example.com (hard_bounce) is on this tenant's suppression list" in message
    assert total(runtime, principal) == 0


# -- time ---------------------------------------------------------------------------------------


async def test_instructions_and_results_carry_the_time_of_the_request(
    runtime: Runtime, principal: Principal
) -> None:
    clock = FakeClock(datetime(2031, 5, 4, 12, 0, tzinfo=UTC))
    server = build_server(runtime, fixed_principal(principal), clock=clock)
    async with Client(server) as client:
        first = client.instructions or ""
        sent = ok(await client.call_tool("send_email", MSG))
    clock.now += timedelta(days=1, hours=1)
    async with Client(server) as client:
        second = client.instructions or ""
        stats = ok(await client.call_tool("queue_stats", {}))

    assert "2031-05-04T12:00:00Z" in first
    assert "2031-05-05T13:00:00Z" in second and "2031-05-04" not in second
    assert datetime.fromisoformat(sent["server_time"]) == datetime(2031, 5, 4, 12, tzinfo=UTC)
    assert datetime.fromisoformat(stats["server_time"]) == clock.now


async def test_send_at_in_the_past_is_refused_and_now_sends_at_once(
    runtime: Runtime, principal: Principal
) -> None:
    now = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
    server = build_server(runtime, fixed_principal(principal), clock=FakeClock(now))
    async with Client(server) as client:
        # The year slip: the agent thinks it is a year earlier than it is.
        slip = await client.call_tool("send_email", {**MSG, "send_at": "2030-05-04T09:00:00-03:00"})
        assert total(runtime, principal) == 0
        skew = ok(await client.call_tool("send_email", {**MSG, "send_at": "2031-05-04T11:58:00Z"}))
        at_once = ok(await client.call_tool("send_email", {**MSG, "send_at": "now"}))
        later = ok(await client.call_tool("send_email", {**MSG, "send_at": "2031-06-01T09:00:00Z"}))
        tools = {t.name: t for t in (await client.list_tools()).tools}

    message = refused(slip)
    assert "send_at: 2030-05-04T09:00:00-03:00 is in the past" in message
    assert "server time 2031-05-04T12:00:00Z" in message and "'now'" in message
    assert skew["status"] == "pending"  # a couple of minutes of clock skew is not a slip
    assert at_once["scheduled_at"] is None and "as soon as possible" in at_once["note"]
    assert later["scheduled_at"] is not None and "2031-06-01T" in later["note"]
    assert "now" in str(tools["send_email"].input_schema["properties"]["send_at"])


# -- arguments and their errors -----------------------------------------------------------------


async def test_unknown_arguments_are_refused_with_a_suggestion_on_every_tool(
    runtime: Runtime, principal: Principal
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        tools = (await client.list_tools()).tools
        sender = await client.call_tool("send_email", {**MSG, "from": "sender@example.com"})
        renamed = await client.call_tool("send_email", {**MSG, "to_email": "x@example.com"})
        two = await client.call_tool("send_email", {**MSG, "from": "x", "sendAt": "now"})
        listing = await client.call_tool("list_emails", {"state": "pending"})
        stats = await client.call_tool("queue_stats", {"verbose": True})
        leads = await client.call_tool("find_leads", {"query": "ana"})

    assert "unknown argument 'from'; did you mean 'from_email'?" in refused(sender)
    assert "unknown argument 'to_email'; did you mean 'to'?" in refused(renamed)
    assert refused(two).endswith(
        "unknown arguments 'from' (did you mean 'from_email'?), 'sendAt' (did you mean 'send_at'?)"
    )
    assert "unknown argument 'state'; did you mean 'status'?" in refused(listing)
    assert "unknown argument 'verbose'; it takes none" in refused(stats)
    assert "unknown argument 'query'" in refused(leads)
    assert total(runtime, principal) == 0
    for tool in tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name


async def test_bad_arguments_are_one_line_naming_the_field(
    runtime: Runtime, principal: Principal
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        priority = await client.call_tool("send_email", {**MSG, "priority": "asap"})
        to = await client.call_tool("send_email", {**MSG, "to": 5})
        cc = await client.call_tool("send_email", {**MSG, "cc": ["b@example.com", 7]})
        naive = await client.call_tool("send_email", {**MSG, "send_at": "2030-01-01T09:00"})
        attachment = await client.call_tool(
            "send_email", {**MSG, "attachments": [{"filename": "", "content_base64": ""}]}
        )
        missing = await client.call_tool("send_email", {"subject": "s", "body": "b"})
        email_id = await client.call_tool("get_email", {"id": 0})
        limit = await client.call_tool("list_emails", {"limit": "many"})

    assert "priority: input should be 'low', 'normal', 'high' or 'urgent'" in refused(priority)
    assert "to: input should be a valid list or a valid string" in refused(to)
    assert "cc[1]: input should be a valid string" in refused(cc)
    assert "send_at: give a UTC offset" in refused(naive)
    assert "attachments[0].filename: string should have at least 1 character" in refused(attachment)
    assert "to: this argument is required" in refused(missing)
    assert "id: input should be greater than or equal to 1" in refused(email_id)
    assert "limit: input should be a valid integer" in refused(limit)
    assert total(runtime, principal) == 0


async def test_cc_and_bcc_take_the_same_shapes_as_to(
    runtime: Runtime, principal: Principal
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        sent = ok(
            await client.call_tool(
                "send_email",
                {**MSG, "cc": "b@example.com, c@example.com", "bcc": "d@example.com"},
            )
        )
        listed = ok(await client.call_tool("send_email", {**MSG, "cc": ["e@example.com"]}))
    assert sent["cc_emails"] == ["b@example.com", "c@example.com"]
    assert sent["bcc_emails"] == ["d@example.com"]
    assert listed["cc_emails"] == ["e@example.com"]


# -- cancel -------------------------------------------------------------------------------------


async def test_cancelling_a_sent_message_is_still_an_error(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        sent = ok(await client.call_tool("send_email", MSG))
        await run_dispatcher_until(runtime, lambda: email_status(runtime, sent["id"]) == "sent")
        late = await client.call_tool("cancel_email", {"id": sent["id"]})
    assert email_status(runtime, sent["id"]) == "sent"
    assert f"email {sent['id']} is sent and can no longer be cancelled" in refused(late)

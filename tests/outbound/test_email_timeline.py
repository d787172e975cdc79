"""`GET /emails/{id}` and the MCP `get_email` tool show a message's events and delivery report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp.client import Client

from carteiro.api.app import create_app
from carteiro.inbound import bounces
from carteiro.inbound.models import InboxMessage
from carteiro.inbound.parse import parse_message
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink

RECIPIENT = "ninguem@cliente.example"


def dsn(original_id: str, *, status: str = "5.1.1") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.cliente.example>\r\n"
        "To: sender@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-7@mx.cliente.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.cliente.example\r\n\r\n"
        f"Final-Recipient: rfc822; {RECIPIENT}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{RECIPIENT}>: User unknown\r\n\r\n"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: sender@example.com\r\nTo: {RECIPIENT}\r\nMessage-ID: {original_id}\r\n\r\n"
        "--R--\r\n"
    ).encode()


def arf(original_id: str) -> bytes:
    return (
        "From: feedback@provedor.example\r\nTo: sender@example.com\r\n"
        "Subject: Abuse report\r\nMessage-ID: <arf-7@provedor.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\r\n"
        "--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: sender@example.com\r\nMessage-ID: {original_id}\r\n\r\n"
        "--F--\r\n"
    ).encode()


def report_arrives(runtime: Runtime, email_id: int, raw: bytes) -> None:
    """Runs a report through the inbox's bounce matching, as a sync does for each message."""
    with runtime.db.session() as session:
        email = session.get(Email, email_id)
        assert email is not None
        row = InboxMessage(tenant_id=email.tenant_id, account_id=email.account_id)
        report = bounces.process(session, row=row, parsed=parse_message(raw), bus=runtime.bus)
        assert report is not None
        assert row.related_email_id == email_id


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(runtime, run_worker=False), headers={"Authorization": f"Bearer {api_key}"}
    ) as c:
        yield c


def send(client: TestClient, **extra: Any) -> dict[str, Any]:
    body = {"to_email": RECIPIENT, "subject": "Oferta", "body": "Confira.", **extra}
    created = client.post("/emails", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def deliver(runtime: Runtime, email_id: int) -> None:
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"


def types(detail: dict[str, Any]) -> list[str]:
    return [e["type"] for e in detail["events"]]


async def test_a_sent_message_shows_queued_then_sent_and_no_report(
    runtime: Runtime, client: TestClient, sink: SmtpSink, smtp_account: int
) -> None:
    email = send(client, account="sink")
    assert "events" not in email  # the create answer stays the plain message

    await deliver(runtime, email["id"])
    got = client.get(f"/emails/{email['id']}").json()
    assert types(got) == ["queued", "sent"]
    queued, sent = got["events"]
    assert queued["at"] <= sent["at"]
    assert sent["detail"] == "account sink"
    assert got["delivery"] is None
    # The list stays cheap: no timeline per item.
    (item,) = client.get("/emails").json()["items"]
    assert "events" not in item and "delivery" not in item


async def test_a_dsn_after_sending_is_the_delivery_report(
    runtime: Runtime, client: TestClient, sink: SmtpSink, smtp_account: int
) -> None:
    email = send(client, account="sink")
    await deliver(runtime, email["id"])
    report_arrives(runtime, email["id"], dsn(email["message_id"]))

    got = client.get(f"/emails/{email['id']}").json()
    assert got["status"] == "sent"
    assert types(got) == ["queued", "sent", "bounce_hard"]
    assert got["events"][-1]["detail"] == (
        f"5.1.1; {RECIPIENT}; smtp; 550 5.1.1 <{RECIPIENT}>: User unknown"
    )
    delivery = got["delivery"]
    assert delivery == {
        "status": "bounced",
        "reported_at": got["events"][-1]["at"],
        "smtp_status": "5.1.1",
        "diagnostic": f"smtp; 550 5.1.1 <{RECIPIENT}>: User unknown",
        "recipient": RECIPIENT,
    }


async def test_the_latest_report_wins_and_a_complaint_names_its_feedback_type(
    runtime: Runtime, client: TestClient, sink: SmtpSink, smtp_account: int
) -> None:
    email = send(client, account="sink")
    await deliver(runtime, email["id"])
    report_arrives(runtime, email["id"], dsn(email["message_id"], status="4.2.2"))
    soft = client.get(f"/emails/{email['id']}").json()["delivery"]
    assert (soft["status"], soft["smtp_status"]) == ("bounced", "4.2.2")

    report_arrives(runtime, email["id"], arf(email["message_id"]))
    got = client.get(f"/emails/{email['id']}").json()
    assert types(got) == ["queued", "sent", "bounce_soft", "complained"]
    delivery = got["delivery"]
    assert delivery["status"] == "complained"
    assert delivery["diagnostic"] == "abuse"
    assert delivery["smtp_status"] is None
    # An ARF report hides the recipient; the message had one, so it was them.
    assert delivery["recipient"] == RECIPIENT


async def test_a_5xx_at_send_time_is_reported_as_bounced(
    runtime: Runtime, client: TestClient, sink: SmtpSink, smtp_account: int
) -> None:
    sink.script(["550 5.1.1 <ninguem@cliente.example>: Recipient address rejected"])
    email = send(client, account="sink")
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email["id"]) == "failed")

    got = client.get(f"/emails/{email['id']}").json()
    assert got["status"] == "failed"
    assert types(got) == ["queued", "failed", "bounce_hard"]
    assert got["events"][1]["detail"].startswith("account sink; 550 5.1.1 <ninguem@")
    assert got["delivery"]["status"] == "bounced"
    assert got["delivery"]["smtp_status"] == "5.1.1"
    assert got["delivery"]["recipient"] == RECIPIENT
    assert "Recipient address rejected" in got["delivery"]["diagnostic"]


def test_a_cancelled_message_shows_why_it_never_left(client: TestClient) -> None:
    email = send(client, scheduled_at="2999-01-01T00:00:00+00:00")
    assert client.post(f"/emails/{email['id']}/cancel").status_code == 200
    got = client.get(f"/emails/{email['id']}").json()
    assert types(got) == ["queued", "cancelled"]
    assert [e["detail"] for e in got["events"]] == [None, None]
    assert got["delivery"] is None


def test_another_tenants_timeline_is_404(
    runtime: Runtime, client: TestClient, principal: Principal
) -> None:
    email = send(client)
    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outra")
        _, key = tenancy.create_key(session, tenant_id=other.id, name="k")
    got = client.get(f"/emails/{email['id']}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 404
    assert got.json()["error"]


async def test_get_email_tool_returns_events_and_delivery(
    runtime: Runtime, client: TestClient, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    email = send(client, account="sink")
    await deliver(runtime, email["id"])
    report_arrives(runtime, email["id"], dsn(email["message_id"]))

    async with Client(build_server(runtime, fixed_principal(principal))) as mcp:
        tool = next(t for t in (await mcp.list_tools()).tools if t.name == "get_email")
        assert {"events", "delivery"} <= set(tool.output_schema["properties"])
        assert "untrusted" in tool.description
        result = await mcp.call_tool("get_email", {"id": email["id"]})
    assert not result.is_error, result.content
    got = result.structured_content
    assert got is not None
    assert types(got) == ["queued", "sent", "bounce_hard"]
    assert got["delivery"]["status"] == "bounced"
    assert got["delivery"]["smtp_status"] == "5.1.1"
    assert got["delivery"]["recipient"] == RECIPIENT
    # The tool adds the times in the caller's zone (`local`); the rest is the API's answer.
    assert got.pop("local")["timezone"] == "America/Sao_Paulo"
    assert got == client.get(f"/emails/{email['id']}").json()


def test_one_click_unsubscribe_from_bulk_mail_shows_on_that_message(client: TestClient) -> None:
    ids = client.post(
        "/emails/batch",
        json=[{"to_email": "lead@example.org", "subject": "Novidades", "body": "b"}],
    ).json()["ids"]
    raw = client.get(f"/emails/{ids[0]}/raw").content.replace(b"\r\n ", b" ")
    link = re.search(rb"<https?://[^>]+(/u/[^>]+)>", raw)
    assert link is not None
    assert client.post(link.group(1).decode(), data={"List-Unsubscribe": "One-Click"}).is_success

    got = client.get(f"/emails/{ids[0]}").json()
    assert types(got) == ["queued", "unsubscribed"]
    assert got["events"][-1]["detail"] == "lead@example.org"

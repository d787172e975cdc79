"""A scripted agent drives a real `carteiro serve` over MCP (streamable HTTP), using only what
the tools return: it parses each result's JSON text to find the ids for its next call.

The server reads a private Dovecot and delivers to the SMTP sink, as in production."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2ekit import SMTP_USERS, Process, child_env, free_port, private_database, wait_until
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import TextContent

from carteiro.testing.dovecot import Dovecot
from carteiro.testing.pipelining_sink import PipeliningSink

SP = ZoneInfo("America/Sao_Paulo")


class Agent:
    """Calls tools and reads back only their text content, as a model would."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.calls: list[str] = []

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        self.calls.append(tool)
        result = await self.session.call_tool(tool, arguments)
        text = "".join(b.text for b in result.content if isinstance(b, TextContent))
        assert not result.is_error, f"{tool}: {text}"
        data = json.loads(text)
        assert isinstance(data, dict)
        return data

    async def until(self, tool: str, done: Any, **arguments: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while True:
            data = await self.call(tool, **arguments)
            if done(data):
                return data
            assert time.monotonic() < deadline, f"{tool} never reached the state: {data}"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if not Dovecot.available():
        reason = "dovecot is not installed (Debian: apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with Dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def carteiro(
    sink: PipeliningSink, dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, int]]:
    """`carteiro serve` with one account: SMTP to the sink, IMAP from Dovecot."""
    root = tmp_path_factory.mktemp("mcp-agent")
    cwd = root / "cwd"
    cwd.mkdir()
    with private_database(root) as database_url:
        port = free_port()
        serve = Process(
            ["serve", "--port", str(port)], env=child_env(database_url, root / "d"), cwd=cwd
        )
        try:
            key = serve.wait_for_line("API key: ").removeprefix("API key: ")
            serve.wait_for_line("Carteiro listening on ")
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
                wait_until(lambda: _healthy(http), 30, "carteiro serve to answer /health")
                created = http.post(
                    "/accounts",
                    json={
                        "name": "caixa",
                        "email": dovecot.user,
                        "display_name": "Equipe Carteiro",
                        "smtp": {
                            "host": sink.hostname,
                            "port": sink.port,
                            "security": "starttls",
                            "username": "user",
                            "password": SMTP_USERS["user"],
                            "ca_file": str(sink.cert_path),
                        },
                        "imap": {**dovecot.imap_settings, "poll_seconds": 300},
                    },
                )
                assert created.status_code == 201, created.text
            yield base, key, created.json()["id"]
        finally:
            assert serve.stop() == 0, serve.output()


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False


@asynccontextmanager
async def agent(base: str, key: str) -> AsyncIterator[Agent]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield Agent(session)


def inbound(subject: str, sender: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "equipe@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(SP))
    message["Message-ID"] = headers.pop("message_id", make_msgid(domain="cliente.example"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def delivered(sink: PipeliningSink, subject: str) -> email.message.EmailMessage:
    def find() -> email.message.EmailMessage | None:
        for m in sink.messages:
            parsed = email.message_from_bytes(m.data, policy=email.policy.default)
            if parsed["Subject"] == subject:
                assert isinstance(parsed, email.message.EmailMessage)
                return parsed
        return None

    found: email.message.EmailMessage = wait_until(find, 30, f"the sink to receive {subject!r}")
    return found


async def test_schedule_for_tomorrow_nine_in_sao_paulo_check_and_cancel(
    carteiro: tuple[str, str, int],
) -> None:
    base, key, _ = carteiro
    tomorrow = (datetime.now(SP) + timedelta(days=1)).date().isoformat()
    async with agent(base, key) as a:
        queued = await a.call(
            "send_email",
            to="ana@cliente.example",
            subject="Lembrete da reunião",
            body="Até amanhã.",
            send_at=f"{tomorrow}T09:00:00",
            timezone="America/Sao_Paulo",
        )
        checked = await a.call("get_email", id=queued["id"], timezone="America/Sao_Paulo")
        cancelled = await a.call("cancel_email", id=checked["id"])
        final = await a.call("get_email", id=queued["id"])
    assert checked["status"] == "pending"
    assert checked["local"]["scheduled_at"] == f"{tomorrow}T09:00:00-03:00"
    assert cancelled["status"] == "cancelled" and final["status"] == "cancelled"
    assert [e["type"] for e in final["events"]][-1] == "cancelled"


async def test_find_a_lead_and_mail_them(
    carteiro: tuple[str, str, int], sink: PipeliningSink
) -> None:
    base, key, _ = carteiro
    sheet = "Nome;E-mail;Celular\nMariana Araújo;mariana@cliente.example;11 98765-4321\n"
    async with agent(base, key) as a:
        job = await a.call(
            "import_leads",
            content_base64=base64.b64encode(sheet.encode()).decode(),
            filename="leads.csv",
        )
        assert job["status"] == "concluido", job
        found = await a.call("find_leads", q="mariana")
        lead = found["items"][0]
        sent = await a.call(
            "send_email",
            to=lead["email_principal"],
            subject="Proposta para Mariana",
            body=f"Olá {lead['nome'].split()[0]}, segue a proposta.",
        )
        done = await a.until("get_email", lambda e: e["status"] == "sent", id=sent["id"])
    message = delivered(sink, "Proposta para Mariana")
    assert message["To"] == "mariana@cliente.example"
    assert "Olá Mariana" in message.get_content()
    assert done["attempts"][-1]["smtp_code"] == 250


async def test_read_the_latest_message_of_a_thread_and_reply(
    carteiro: tuple[str, str, int], sink: PipeliningSink, dovecot: Dovecot
) -> None:
    base, key, account_id = carteiro
    dovecot.append(
        "INBOX",
        inbound(
            "Orçamento da obra",
            "Carlos Lima <carlos@cliente.example>",
            "Bom dia, qual o prazo?",
            message_id="<o1@cliente.example>",
        ),
    )
    dovecot.append(
        "INBOX",
        inbound(
            "Re: Orçamento da obra",
            "Carlos Lima <carlos@cliente.example>",
            "Esqueci: precisamos até sexta. Obrigado!",
            message_id="<o2@cliente.example>",
            In_Reply_To="<o1@cliente.example>",
            References="<o1@cliente.example>",
        ),
    )
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.post(f"/accounts/{account_id}/sync").status_code in (200, 202)
    async with agent(base, key) as a:
        found = await a.until("search_inbox", lambda r: r["items"], query="orcamento", unread=True)
        thread = await a.call("get_thread", thread_id=found["items"][0]["thread_id"])
        latest = await a.call("read_message", message_id=thread["latest_message_id"])
        reply = await a.call(
            "reply_to_message",
            message_id=latest["id"],
            body="Olá Carlos, entregamos até sexta.",
            idempotency_key="carlos-prazo",
        )
        await a.call("update_message", mark="read", thread_id=thread["thread_id"])
        done = await a.until("get_email", lambda e: e["status"] == "sent", id=reply["email_id"])
    assert "precisamos até sexta" in latest["text"]
    assert reply["in_reply_to"] == "<o2@cliente.example>"
    message = delivered(sink, "Re: Orçamento da obra")
    assert message["In-Reply-To"] == "<o2@cliente.example>"
    text = message.get_content()
    assert text.startswith("Olá Carlos, entregamos até sexta.")
    assert "Carlos Lima <carlos@cliente.example> escreveu:" in text
    assert done["status"] == "sent"

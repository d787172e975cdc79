"""Mail sent through every front end of a running Carteiro reaches the SMTP server: the REST
API, `carteiro send`, MCP over stdio (`carteiro mcp`) and MCP over streamable HTTP."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
from e2ekit import SCRIPT, SMTP_USERS, received, wait_final
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from carteiro.testing.children import CARTEIRO
from carteiro.testing.pipelining_sink import PipeliningSink
from conftest import Server

pytestmark = pytest.mark.e2e


def test_the_sink_offers_starttls_auth_and_pipelining(sink: PipeliningSink) -> None:
    assert sink.cert_path is not None
    context = ssl.create_default_context(cafile=str(sink.cert_path))
    with smtplib.SMTP(sink.hostname, sink.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and smtp.has_extn("pipelining")
        assert not smtp.has_extn("auth")  # only once the connection is encrypted
        smtp.starttls(context=context)
        smtp.ehlo()
        assert smtp.has_extn("pipelining")
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        smtp.login("user", SMTP_USERS["user"])


def assert_delivered(server: Server, sink: PipeliningSink, email_id: int, subject: str) -> dict:
    """The API says sent, through the account, and the sink holds that very message."""
    with server.client() as http:
        email = wait_final(http, email_id)
    assert email["status"] == "sent", email
    assert email["account"] == server.account
    assert [e["type"] for e in email["events"]][-1] == "sent"
    got = received(sink, email["message_id"])
    assert got.mail_from.startswith("sender")
    assert f"Subject: {subject}".encode() in got.data
    return email


def test_rest_api(server: Server, sink: PipeliningSink) -> None:
    subject = f"REST {server.mode}"
    with server.client() as http:
        created = http.post(
            "/emails",
            json={
                "to_email": "ana@example.org",
                "subject": subject,
                "body": "Olá pela API.",
                "account": server.account,
            },
        )
    assert created.status_code == 201, created.text
    email = assert_delivered(server, sink, created.json()["id"], subject)
    assert email["source"] == "api"


def test_cli_send(server: Server, sink: PipeliningSink) -> None:
    subject = f"CLI {server.mode}"
    args = ["--to", "bia@example.org", "--subject", subject, "--body", "Olá pela linha de comando."]
    done = subprocess.run(
        [*CARTEIRO, "send", *args, "--account", server.account, "--wait", "60"],
        env=server.env,
        cwd=server.cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    queued, sent = done.stdout.strip().splitlines()
    _, email_id, message_id = queued.split(" ", 2)
    assert sent == f"sent {email_id} {message_id}"
    email = assert_delivered(server, sink, int(email_id), subject)
    assert (email["message_id"], email["source"]) == (message_id, "cli")


async def test_mcp_over_stdio_with_a_minimal_environment(
    server: Server, sink: PipeliningSink, tmp_path: Path
) -> None:
    subject = f"MCP stdio {server.mode}"
    # What a desktop client's config holds; the SDK adds only PATH, HOME, USER and the like.
    env = {
        "CARTEIRO_DATABASE_URL": server.env["CARTEIRO_DATABASE_URL"],
        "CARTEIRO_DATA_DIR": server.env["CARTEIRO_DATA_DIR"],
        "CARTEIRO_API_KEY": server.key,
        "HOME": str(tmp_path),
    }
    command = [str(SCRIPT), "mcp"] if SCRIPT.exists() else [*CARTEIRO, "mcp"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=tmp_path)
    with (tmp_path / "mcp-stderr.log").open("w+") as errlog:
        try:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool(
                    "send_email",
                    {
                        "to": "caio@example.org",
                        "subject": subject,
                        "body": "Olá pelo MCP.",
                        "account": server.account,
                    },
                )
        except BaseException:
            errlog.seek(0)
            print("--- carteiro mcp: stderr ---\n" + errlog.read())
            raise
    assert not result.is_error, result.content
    assert result.structured_content is not None
    email = assert_delivered(server, sink, result.structured_content["id"], subject)
    assert email["source"] == "mcp"


async def test_mcp_over_streamable_http(server: Server, sink: PipeliningSink) -> None:
    subject = f"MCP HTTP {server.mode}"
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {server.key}"}) as http,
        streamable_http_client(f"{server.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool(
            "send_email",
            {
                "to": "dora@example.org",
                "subject": subject,
                "body": "Olá pelo MCP em HTTP.",
                "account": server.account,
            },
        )
        assert not result.is_error, result.content
        assert result.structured_content is not None
        email_id = result.structured_content["id"]
        email = assert_delivered(server, sink, email_id, subject)
        shown = await session.call_tool("get_email", {"id": email_id})
    assert not shown.is_error, shown.content
    assert shown.structured_content is not None
    assert shown.structured_content["status"] == "sent"
    assert shown.structured_content["events"] == email["events"]

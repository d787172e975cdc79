"""`carteiro mcp` over stdio, driven by the MCP SDK's own client in a child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.outbound import service as outbound
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

TOOLS = {"send_email", "get_email", "list_emails", "cancel_email", "queue_stats", "list_accounts"}
# Tools that reach outside Carteiro (mail servers, DNS): open-world. Booking, moving and
# cancelling an appointment e-mail the lead a calendar invitation.
OPEN_WORLD = {
    "send_email",
    "check_account_dns",
    "reply_to_message",
    "create_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "create_dispatch",
}
SERVER = [sys.executable, "-m", "carteiro.mcp.stdio"]
# The console script a desktop client runs, for its command-line options.
CLI = str(Path(sys.executable).with_name("carteiro"))


@asynccontextmanager
async def stdio_session(
    env: dict[str, str], cwd: Path, *, server: list[str] = SERVER
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=server[0], args=server[1:], env=env, cwd=cwd)
    with (cwd / "server-stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


def add_account(runtime: Runtime, principal: Principal, password: str) -> None:
    with runtime.db.session() as session:
        accounts.create(
            session,
            tenant_id=principal.tenant_id,
            data=AccountCreate(
                name="main",
                email="sender@example.com",
                smtp=SmtpIn(host="smtp.example.com", username="sender", password=password),
            ),
            vault=runtime.vault,
        )


async def test_tools_are_listed_with_schemas_and_annotations(
    stdio_env: dict[str, str], stdio_cwd: Path
) -> None:
    async with stdio_session(stdio_env, stdio_cwd) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert set(listed) >= TOOLS  # the outbound contract; other domains add their own tools
    for tool in listed.values():
        assert tool.description, tool.name
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
        assert tool.annotations is not None, tool.name
        assert tool.annotations.open_world_hint is (tool.name in OPEN_WORLD), tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    send = listed["send_email"]
    assert {"to", "subject", "body"} <= set(send.input_schema["required"])
    assert send.annotations.read_only_hint is False
    assert send.annotations.idempotent_hint is False
    assert send.annotations.destructive_hint is False
    for name in ("get_email", "list_emails", "queue_stats", "list_accounts"):
        assert listed[name].annotations.read_only_hint is True, name
    cancel = listed["cancel_email"].annotations
    assert cancel.destructive_hint is True and cancel.read_only_hint is False


async def test_send_follow_cancel_and_list_accounts(
    runtime: Runtime, principal: Principal, stdio_env: dict[str, str], stdio_cwd: Path
) -> None:
    add_account(runtime, principal, password="smtp-s3cret-pw")
    async with stdio_session(stdio_env, stdio_cwd) as session:
        sent = ok(
            await session.call_tool(
                "send_email",
                {
                    "to": "ana@example.com",
                    "cc": ["bia@example.com"],
                    "subject": "Relatório",
                    "body": "secret body text",
                    "priority": "high",
                },
            )
        )
        assert sent["status"] == "pending"
        assert isinstance(sent["id"], int)
        assert sent["source"] == "mcp"
        assert sent["account"] == "main"
        assert sent["duplicate"] is False
        assert "body" not in sent and "secret body text" not in json.dumps(sent)

        got = ok(await session.call_tool("get_email", {"id": sent["id"]}))
        assert got["status"] == "pending"
        assert got["subject"] == "Relatório"
        assert got["cc_emails"] == ["bia@example.com"]
        assert got["attempts"] == []

        page = ok(await session.call_tool("list_emails", {"status": "pending", "limit": 10}))
        assert page["total"] == 1
        assert [item["id"] for item in page["items"]] == [sent["id"]]

        stats = ok(await session.call_tool("queue_stats", {}))
        assert stats["counts"]["pending"] == 1

        cancelled = ok(await session.call_tool("cancel_email", {"id": sent["id"]}))
        assert cancelled["status"] == "cancelled"
        # Idempotent, as its annotations say: cancelling again returns the cancelled message.
        again = ok(await session.call_tool("cancel_email", {"id": sent["id"]}))
        assert again["id"] == sent["id"] and again["status"] == "cancelled"

        missing = await session.call_tool("get_email", {"id": 999_999})
        assert missing.is_error and "not found" in text(missing)

        listed = await session.call_tool("list_accounts", {})
        found = ok(listed)
        assert [a["name"] for a in found["items"]] == ["main"]
        assert found["items"][0]["smtp"]["has_password"] is True
        assert "smtp-s3cret-pw" not in json.dumps(found) + text(listed)
        assert "password" not in found["items"][0]["smtp"]


async def test_bad_input_is_a_tool_error_with_a_clear_message(
    runtime: Runtime, principal: Principal, stdio_env: dict[str, str], stdio_cwd: Path
) -> None:
    async with stdio_session(stdio_env, stdio_cwd) as session:
        bad = await session.call_tool(
            "send_email", {"to": "not-an-address", "subject": "x", "body": "y"}
        )
        naive = await session.call_tool(
            "send_email",
            {"to": "a@example.com", "subject": "x", "body": "y", "send_at": "2030-01-01T09:00"},
        )
        crlf = await session.call_tool(
            "send_email", {"to": "a@example.com", "subject": "x\r\nBcc: b@evil.com", "body": "y"}
        )

    assert bad.is_error
    assert "to: 'not-an-address' is not a valid e-mail address" in text(bad)
    assert naive.is_error and "send_at" in text(naive) and "timezone" in text(naive)
    assert crlf.is_error and "subject" in text(crlf)
    for result in (bad, naive, crlf):
        assert "Traceback" not in text(result)
    with runtime.db.session() as session:
        assert outbound.list_(session, principal=principal)[1] == 0


async def test_instructions_give_the_server_time(
    stdio_env: dict[str, str], stdio_cwd: Path
) -> None:
    async with stdio_session(stdio_env, stdio_cwd) as session:
        instructions = session.instructions or ""
        call = {"to": "a@example.com", "subject": "s", "body": "b", "send_at": "now"}
        sent = ok(await session.call_tool("send_email", call))
    found = re.search(r"server's current time is (\S+Z)", instructions)
    assert found, instructions
    told = datetime.fromisoformat(found.group(1))
    assert abs(told - datetime.now(UTC)) < timedelta(minutes=10)
    assert abs(datetime.fromisoformat(sent["server_time"]) - told) < timedelta(minutes=10)


def _bare_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_", "GMAIL_"))
    }
    return env | extra


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, "CARTEIRO_API_KEY is not set"), ("ct_wrong", "invalid or revoked API key")],
)
def test_refuses_to_start_without_a_valid_key(
    stdio_env: dict[str, str], stdio_cwd: Path, key: str | None, expected: str
) -> None:
    env = dict(stdio_env)
    env.pop("CARTEIRO_API_KEY")
    if key is not None:
        env["CARTEIRO_API_KEY"] = key
    done = subprocess.run(
        SERVER,
        env=_bare_env(env),
        cwd=stdio_cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


async def test_tools_flag_trims_the_catalogue(stdio_env: dict[str, str], stdio_cwd: Path) -> None:
    command = [CLI, "mcp", "--tools", "inbox,send_email"]
    async with stdio_session(stdio_env, stdio_cwd, server=command) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
    assert "send_email" in names and "search_inbox" in names and "list_folders" in names
    assert "get_email" not in names and "find_leads" not in names


def test_a_wrong_tools_flag_stops_the_start(stdio_env: dict[str, str], stdio_cwd: Path) -> None:
    done = subprocess.run(
        [CLI, "mcp", "--tools", "everything"],
        env=stdio_env,
        cwd=stdio_cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown preset or tool 'everything'" in done.stderr
    assert "Traceback" not in done.stderr

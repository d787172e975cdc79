"""LangChain over the wire: `langchain-mcp-adapters`, from a virtualenv of its own (it pins
mcp<2), loads a real `carteiro serve`'s MCP tools over streamable HTTP with a Bearer key and
calls them; the effects are checked in Carteiro's database.

`make langchain-mcp` builds that virtualenv (pinned) under .tools/ (CARTEIRO_LANGCHAIN_MCP_PYTHON,
which `make test` sets, names its python). Without it these tests skip, except in CI (CI=true),
where they fail."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from carteiro.outbound.models import PRIORITIES, Email
from carteiro.runtime import Runtime
from carteiro.testing.children import CarteiroProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

# Runs in the adapters' virtualenv: argv is the MCP URL and the key; prints one JSON line.
SCRIPT = r"""
import asyncio, json, sys
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient

def text_of(content):
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))

async def call(tool, args):
    # As an agent calls it: a ToolCall in, a ToolMessage (with its status) out.
    message = await tool.ainvoke({"type": "tool_call", "id": "c1", "name": tool.name, "args": args})
    return {"ok": message.status == "success", "text": text_of(message.content)}

async def main(url, key):
    client = MultiServerMCPClient({"carteiro": {
        "transport": "streamable_http", "url": url,
        "headers": {"Authorization": f"Bearer {key}"},
    }})
    tools = {t.name: t for t in await client.get_tools()}
    assert all(isinstance(t, BaseTool) for t in tools.values())
    send = tools["send_email"]
    accounts = await call(tools["list_accounts"], {})
    sent = await call(send, {
        "to": "equipe@empresa.com", "subject": "Reunião via LangChain MCP",
        "body": "Às 10h na sala 2.", "priority": "high", "idempotency_key": "lc-mcp-1",
    })
    again = await call(send, {
        "to": "equipe@empresa.com", "subject": "Reunião via LangChain MCP",
        "body": "Às 10h na sala 2.", "priority": "high", "idempotency_key": "lc-mcp-1",
    })
    refused = await call(send, {"to": "x@outra.com", "subject": "A", "body": "B"})
    print(json.dumps({
        "tools": sorted(tools),
        "send_metadata": send.metadata,
        "send_required": send.args_schema.get("required") if isinstance(send.args_schema, dict)
            else None,
        "accounts": accounts, "sent": sent, "again": again, "refused": refused,
    }))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def adapters_python() -> Path | None:
    named = os.environ.get("CARTEIRO_LANGCHAIN_MCP_PYTHON")
    if named and Path(named).exists():
        return Path(named)
    # The newest complete one under .tools/ (an older pinned one may still lie beside it).
    found = REPO.glob(".tools/langchain-mcp-*/.installed")
    newest = max(found, key=lambda p: p.stat().st_mtime, default=None)
    return newest.parent / "bin" / "python" if newest else None


@pytest.fixture
def adapters() -> Path:
    python = adapters_python()
    if python is None:
        reason = "langchain-mcp-adapters' virtualenv is missing: run `make langchain-mcp`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(runtime: Runtime, api_key: str, tmp_path: Path) -> Iterator[str]:
    """`carteiro serve` (with its worker, capture mode: no account) on the test's database."""
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
    env.update(
        CARTEIRO_DATABASE_URL=s.database_url,
        CARTEIRO_DATA_DIR=str(s.data_dir),
        CARTEIRO_SECRET_KEY=str(s.secret_key),
        CARTEIRO_POLL_INTERVAL="0.2",
        EMAIL_RATE_LIMIT_PER_HOUR="0",
        PYTHONUNBUFFERED="1",
    )
    cwd = tmp_path / "serve-cwd"  # empty: a developer's .env must not reach the child
    cwd.mkdir()
    port = free_port()
    process = CarteiroProcess(["serve", "--port", str(port)], env=env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        process.wait_for_line("Carteiro listening on ")
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, process.output()
            time.sleep(0.2)
        yield base
    finally:
        process.stop()


def run_script(python: Path, url: str, key: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", SCRIPT, url, key],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "PYTHON"))},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_the_adapters_use_a_served_carteiro_with_a_bearer_key(
    adapters: Path,
    served: str,
    runtime: Runtime,
    make_key: Callable[..., str],
    tmp_path: Path,
) -> None:
    key = make_key("langchain", allowed_recipients=["*@empresa.com"])
    out = run_script(adapters, f"{served}/mcp", key, tmp_path)

    assert {"send_email", "get_email", "list_accounts", "search_inbox"} <= set(out["tools"])
    assert out["send_metadata"]["readOnlyHint"] is False
    assert out["send_metadata"]["openWorldHint"] is True
    assert out["send_required"] == ["to", "subject", "body"]

    assert out["accounts"]["ok"], out["accounts"]
    assert "items" in json.loads(out["accounts"]["text"])
    assert out["sent"]["ok"], out["sent"]
    sent = json.loads(out["sent"]["text"])
    assert sent["status"] in {"pending", "sent"} and sent["duplicate"] is False
    again = json.loads(out["again"]["text"])
    assert again["id"] == sent["id"] and again["duplicate"] is True
    assert not out["refused"]["ok"] and "allow-list" in out["refused"]["text"]

    with runtime.db.session() as session:
        emails = list(session.scalars(select(Email)))
    assert [(e.id, e.to_emails, e.subject, e.priority, e.source) for e in emails] == [
        (sent["id"], ["equipe@empresa.com"], "Reunião via LangChain MCP", PRIORITIES["high"], "mcp")
    ]


def test_a_wrong_key_gets_no_tools(adapters: Path, served: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(adapters), "-c", SCRIPT, f"{served}/mcp", "ct_not-a-key"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0
    assert "401" in done.stderr

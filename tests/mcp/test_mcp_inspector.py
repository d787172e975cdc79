"""The official MCP Inspector CLI against Carteiro, over streamable HTTP and stdio.

The Inspector (npm @modelcontextprotocol/inspector) needs node 22 or later: `make mcp-inspector`
puts both, pinned, under .tools/ and these tests find them there (CARTEIRO_MCP_INSPECTOR, which
`make test` sets, names the binary). Without one they skip, except in CI (CI=true), where they
fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CARTEIRO = str(Path(sys.executable).with_name("carteiro"))


def _find_inspector() -> str | None:
    named = os.environ.get("CARTEIRO_MCP_INSPECTOR")
    if named and Path(named).exists():
        return named
    # The newest install under .tools/ (an older pinned version may still lie beside it).
    cached = REPO.glob(".tools/mcp-inspector-*/node_modules/.bin/mcp-inspector")
    newest = max(cached, key=lambda p: p.stat().st_mtime, default=None)
    return str(newest) if newest else shutil.which("mcp-inspector")


INSPECTOR = _find_inspector()


@pytest.fixture(autouse=True, scope="module")
def inspector_ready() -> str:
    """The Inspector and a node of at least 22 beside it (or first on PATH)."""
    if INSPECTOR is None:
        reason = "the MCP Inspector CLI is not installed: run `make mcp-inspector`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    node = shutil.which("node", path=f"{Path(INSPECTOR).parent}{os.pathsep}{os.environ['PATH']}")
    assert node is not None, "no node next to the Inspector nor on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= 22, f"the Inspector needs node 22 or later; {node} is {version.stdout}"
    return INSPECTOR


def inspect(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    assert INSPECTOR is not None
    binary = Path(INSPECTOR)
    path = f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"  # its own node first
    done = subprocess.run(
        [INSPECTOR, "--cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": path, **(env or {})},
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout)


def test_inspector_over_http(http_base: str, api_key: str) -> None:
    target = [f"{http_base}/mcp", "--transport", "http"]
    auth = ["--header", f"Authorization: Bearer {api_key}"]
    listed = inspect(*target, *auth, "--method", "tools/list", "--strict")
    names = {t["name"] for t in listed["tools"]}
    assert {"send_email", "reschedule_email", "list_folders", "save_draft"} <= names
    assert all(t.get("outputSchema") and t.get("annotations") for t in listed["tools"])

    sent = inspect(
        *target,
        *auth,
        "--method",
        "tools/call",
        "--tool-name",
        "send_email",
        "--tool-arg",
        "to=ana@example.com",
        "subject=Olá via Inspector",
        "body=Primeira mensagem",
    )
    email = sent["structuredContent"]
    assert email["status"] == "pending" and email["subject"] == "Olá via Inspector"
    got = inspect(
        *target,
        *auth,
        "--method",
        "tools/call",
        "--tool-name",
        "get_email",
        "--tool-arg",
        f"id={email['id']}",
    )
    assert got["structuredContent"]["id"] == email["id"]
    assert json.loads(got["content"][0]["text"]) == got["structuredContent"]

    read = inspect(
        f"{http_base}/mcp?tools=read", "--transport", "http", *auth, "--method", "tools/list"
    )
    assert "send_email" not in {t["name"] for t in read["tools"]}
    resources = inspect(*target, *auth, "--method", "resources/list")
    assert [r["uri"] for r in resources["resources"]] == ["carteiro://accounts"]
    prompts = inspect(*target, *auth, "--method", "prompts/list")
    assert {p["name"] for p in prompts["prompts"]} >= {"triage_unread_mail", "reply_to_lead"}


def test_inspector_over_stdio(stdio_env: dict[str, str], stdio_cwd: Path) -> None:
    env_args = [arg for name, value in stdio_env.items() for arg in ("-e", f"{name}={value}")]
    listed = inspect(
        *env_args,
        "--transport",
        "stdio",
        "--method",
        "tools/list",
        "--",
        CARTEIRO,
        "mcp",
        "--tools",
        "read",
        cwd=stdio_cwd,
    )
    names = {t["name"] for t in listed["tools"]}
    assert "get_email" in names and "send_email" not in names

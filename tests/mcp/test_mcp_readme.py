"""The README's MCP tool table is the registry's: regenerate it with scripts/mcp_tools_table.py."""

from __future__ import annotations

from pathlib import Path

from mcp.client import Client

from carteiro.mcp import catalog
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

README = Path(__file__).resolve().parents[2] / "README.md"


async def test_readme_lists_every_tool_with_scopes_and_annotations(
    runtime: Runtime, principal: Principal
) -> None:
    server = build_server(runtime, fixed_principal(principal))
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    expected = catalog.markdown_table(tools, server.tool_scopes)
    text = README.read_text()
    start, end = text.index(catalog.README_START), text.index(catalog.README_END)
    current = text[start : end + len(catalog.README_END)]
    assert current == expected, (
        "README.md's MCP tool table is stale: run .venv/bin/python scripts/mcp_tools_table.py"
    )
    for tool in tools:
        assert f"| `{tool.name}` |" in current

"""Rewrites the MCP tool table in README.md from the server's own registry.

Run `.venv/bin/python scripts/mcp_tools_table.py`; tests/mcp/test_mcp_readme.py fails while
the README's table differs from what this writes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from carteiro import wiring
from carteiro.config import Settings
from carteiro.mcp import catalog
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.tenancy.service import Principal

README = Path(__file__).resolve().parent.parent / "README.md"


async def table() -> str:
    with tempfile.TemporaryDirectory() as data:
        # Registering tools reads no data: an empty database is enough.
        settings = Settings(data_dir=Path(data), database_url=f"sqlite:///{data}/t.db")
        runtime = wiring.runtime(settings)
        everyone = Principal(tenant_id=0, key_id=None, key_name="readme", scopes=("*",))
        server = build_server(runtime, fixed_principal(everyone))
        return catalog.markdown_table(await server.list_tools(), server.tool_scopes)


def main() -> int:
    text = README.read_text()
    new = catalog.replace_table(text, asyncio.run(table()))
    if new != text:
        README.write_text(new)
        print("README.md: MCP tool table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

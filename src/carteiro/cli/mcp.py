"""`carteiro mcp`: the MCP server over stdio, for desktop agents and IDEs."""

from __future__ import annotations

from typing import Annotated

import typer

from carteiro.cli.common import open_runtime

app = typer.Typer()


@app.command("mcp")
def mcp_command(
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools",
            help="tools to list: presets all, read, send, inbox, leads, or tool names, "
            "comma-separated (default: CARTEIRO_MCP_TOOLS)",
        ),
    ] = None,
) -> None:
    """Serve MCP over stdio as the key in CARTEIRO_API_KEY.

    Only MCP traffic goes to stdout; logs and errors go to stderr.
    """
    with open_runtime() as runtime:
        # Imported here: the MCP SDK is heavy and no other command needs it.
        from carteiro.mcp.stdio import run_stdio

        run_stdio(runtime, preset=tools)

"""Builds Carteiro's MCP server for any transport; the transport supplies who is calling."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Literal, cast

from mcp.server.mcpserver import MCPServer

import carteiro.mcp as mcp_package
from carteiro import __version__
from carteiro.mcp import tools
from carteiro.mcp.toolkit import PrincipalResolver, ToolRunner
from carteiro.runtime import Runtime

INSTRUCTIONS = """Carteiro sends email through a durable queue and the organisation's own mail
accounts. send_email queues a message and returns at once; follow it with get_email or
list_emails. A message in status `held` waits for a person to approve it (the API key is in
review mode); do not try to resend it. Your API key may restrict recipients to an allow-list and
limit how many messages it creates per hour; a refusal says which."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def log_level(value: str) -> LogLevel:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        level = "INFO"
    return cast(LogLevel, level)


def build_server(runtime: Runtime, principal_resolver: PrincipalResolver) -> MCPServer:
    """The MCP server with every tool; `principal_resolver` says who the current request is."""
    server: MCPServer = MCPServer(
        name="carteiro",
        title="Carteiro",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=log_level(runtime.settings.log_level),
    )
    runner = ToolRunner(runtime=runtime, resolve=principal_resolver)
    tools.register(server, runner, runtime.settings)
    # Each domain adds its tools in `carteiro/mcp/tools_<domain>.py` with the same `register`.
    for info in sorted(pkgutil.iter_modules(mcp_package.__path__), key=lambda i: i.name):
        if info.name.startswith("tools_"):
            module = importlib.import_module(f"{mcp_package.__name__}.{info.name}")
            module.register(server, runner, runtime.settings)
    return server

"""MCP over stdio (`carteiro mcp`): the API key in CARTEIRO_API_KEY, checked on every call."""

from __future__ import annotations

import logging
import sys

import anyio.to_thread
from mcp.server.mcpserver import Context
from sqlalchemy.exc import SQLAlchemyError

from carteiro import wiring
from carteiro.errors import CarteiroError
from carteiro.mcp.server import build_server, log_level
from carteiro.mcp.toolkit import PrincipalResolver
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


def _log_to_stderr(level: str) -> None:
    # stdout carries the protocol; a single stray line there breaks the client.
    logging.basicConfig(
        level=log_level(level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def _principal(runtime: Runtime) -> Principal:
    """The key's principal, or SystemExit with a one-line reason (no traceback)."""
    key = runtime.settings.api_key
    if not key:
        raise SystemExit(
            "carteiro mcp: CARTEIRO_API_KEY is not set; create a key with "
            "`carteiro keys create --name agent` and pass it in the MCP client's env"
        )
    try:
        return runtime.authenticate(key)
    except CarteiroError as exc:
        raise SystemExit(f"carteiro mcp: CARTEIRO_API_KEY refused: {exc.message}") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise SystemExit(
            f"carteiro mcp: cannot read the database ({reason}); "
            "check CARTEIRO_DATABASE_URL and run `carteiro migrate`"
        ) from None


def per_call(runtime: Runtime, key: str) -> PrincipalResolver:
    """Authenticates the key for each tool call: a key revoked (or narrowed) while the process
    runs stops working at once, as it does over HTTP."""

    async def resolve(_: Context) -> Principal:
        return await anyio.to_thread.run_sync(runtime.authenticate, key)

    return resolve


def run_stdio(runtime: Runtime, *, preset: str | None = None) -> None:
    """Serves MCP on stdin/stdout until the client disconnects; refuses to start without a key.

    `preset` trims the tools listed (`carteiro mcp --tools read`)."""
    _log_to_stderr(runtime.settings.log_level)
    principal = _principal(runtime)
    logging.getLogger("carteiro.mcp").info(
        "MCP over stdio for key '%s' (tenant %s)", principal.key_name, principal.tenant_id
    )
    resolver = per_call(runtime, runtime.settings.api_key or "")
    try:
        server = build_server(runtime, resolver, preset=preset)
    except ValueError as exc:
        raise SystemExit(f"carteiro mcp: {exc}") from None
    server.run("stdio")


if __name__ == "__main__":
    from carteiro.config import Settings

    run_stdio(wiring.runtime(Settings()))

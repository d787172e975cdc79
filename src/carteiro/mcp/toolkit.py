"""Runs a tool's service call as the caller and turns domain errors into tool errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from carteiro.errors import CarteiroError, RateLimited
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

log = logging.getLogger("carteiro.mcp")

T = TypeVar("T")

PrincipalResolver = Callable[[Context], Awaitable[Principal]]
"""Who is calling for the current MCP request: fixed for stdio, from the Bearer key over HTTP."""

# The services name fields as the REST API does; agents only know the tool's parameter names.
_FIELD_NAMES = {
    "to_email": "to",
    "cc_emails": "cc",
    "bcc_emails": "bcc",
    "html_body": "html",
    "scheduled_at": "send_at",
}
_FIELD_PREFIX = re.compile(r"^(" + "|".join(_FIELD_NAMES) + r")(?=$|[\[.:])")


def _tool_field(name: str) -> str:
    return _FIELD_PREFIX.sub(lambda m: _FIELD_NAMES[m.group(1)], name)


def describe(exc: CarteiroError) -> str:
    """One clear sentence for the agent: the service's message with the tool's field name."""
    message = _tool_field(exc.message)
    if exc.field:
        field = _tool_field(exc.field)
        if not message.startswith(field):
            message = f"{message} (field: {field})"
    if isinstance(exc, RateLimited):
        message = f"{message}; try again in {exc.retry_after} seconds"
    return message


def describe_validation(exc: ValidationError) -> str:
    """The first problem of a pydantic error, as 'field: reason'."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "invalid input"
    first = errors[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    return f"{_tool_field(loc)}: {first['msg']}" if loc else str(first["msg"])


def fixed_principal(principal: Principal) -> PrincipalResolver:
    """A resolver for transports with one caller for the whole process (stdio)."""

    async def resolve(_: Context) -> Principal:
        return principal

    return resolve


@dataclass(frozen=True)
class ToolRunner:
    """Resolves the principal, checks the scope and runs sync service code in a worker thread."""

    runtime: Runtime
    resolve: PrincipalResolver

    async def run(self, ctx: Context, scope: str, work: Callable[[Session, Principal], T]) -> T:
        try:
            principal = await self.resolve(ctx)
            principal.require(scope)
            return await anyio.to_thread.run_sync(self._in_session, work, principal)
        except CarteiroError as exc:
            # `from None`: the agent gets the sentence, never a traceback or chained cause.
            raise ToolError(describe(exc)) from None
        except ValidationError as exc:
            raise ToolError(describe_validation(exc)) from None
        except OperationalError as exc:
            log.error("database error in an MCP tool: %s", exc.orig)
            raise ToolError("the database does not answer; try again shortly") from None

    def _in_session(self, work: Callable[[Session, Principal], T], principal: Principal) -> T:
        # Public shapes are built inside the session so lazy attributes load before it closes.
        with self.runtime.db.session() as session:
            return work(session, principal)

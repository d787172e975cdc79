"""Builds Carteiro's MCP server for any transport; the transport supplies who is calling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult, Icon, InputRequiredResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from carteiro import __version__
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.mcp import (
    tools,
    tools_deliverability,
    tools_dispatches,
    tools_inbox,
    tools_inbox_actions,
    tools_leads,
)
from carteiro.mcp.toolkit import (
    Clock,
    PrincipalResolver,
    ToolRunner,
    describe_validation,
    server_time,
)
from carteiro.runtime import Runtime

INSTRUCTIONS = """Carteiro sends email through a durable queue and the organisation's own mail
accounts. send_email queues a message and returns at once; follow it with get_email or
list_emails. A message in status `held` waits for a person to approve it (the API key is in
review mode); do not try to resend it. Your API key may restrict recipients to an allow-list and
limit how many recipients it mails per hour; a refusal says which. Addresses that opted out
(LGPD) are refused unless the mail is transactional (a receipt, a password reset): say so with
transactional=true, never to get around an opt-out."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def log_level(value: str) -> LogLevel:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        level = "INFO"
    return cast(LogLevel, level)


def instructions(now: datetime) -> str:
    """The server instructions, with the server's time so agents schedule in the right year."""
    return (
        f"{INSTRUCTIONS}\n\nThe server's current time is {server_time(now)} (UTC). Give send_at "
        f"with a UTC offset, after that time; a send_at more than {tools.PAST_TOLERANCE_MINUTES} "
        "minutes earlier is refused (use 'now', or leave it out, to send at once)."
    )


class ServerTimeInstructions:
    """Middleware: the instructions of every handshake and discovery carry the current time.

    The SDK reads the instructions once, when the server is built; a long-running server
    would tell agents the time it started.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method in ("initialize", "server/discover"):
            if isinstance(result, BaseModel):
                result = result.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(result, dict):
                result = {**result, "instructions": instructions(self.clock())}
        return result


def _refuse_unknown_arguments(tool: Tool) -> None:
    """The tool's argument model forbids names it does not define, and its schema says so."""
    loose = tool.fn_metadata.arg_model
    # type() of a model subclass is a model class; the checker only knows it as a type.
    strict = cast(
        type[ArgModelBase],
        type(
            loose.__name__,
            (loose,),
            {"__module__": loose.__module__, "model_config": ConfigDict(extra="forbid")},
        ),
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)


class CarteiroServer(MCPServer):
    """MCPServer whose tools refuse unknown arguments and explain bad ones in one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._argument_names: dict[str, list[str]] = {}

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        super().add_tool(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        # The SDK builds the argument model from the signature and offers no setting for
        # extra names, so it is tightened here, once for every tool of every module.
        tool = self._tool_manager.get_tool(name or fn.__name__)
        if tool is not None:
            _refuse_unknown_arguments(tool)
            self._argument_names[tool.name] = list(tool.parameters.get("properties", {}))

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            # Arguments that fail the schema: the SDK's text is pydantic's multi-line dump
            # with documentation URLs; the agent gets one line naming the argument.
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            reason = describe_validation(cause, self._argument_names.get(name, ()))
            raise ToolError(f"Error executing tool {name}: {reason}") from cause


# Each domain adds its tools in `carteiro/mcp/tools_<domain>.py` with the same `register`; the
# order is the one tools are listed in.
TOOL_MODULES: tuple[Callable[[MCPServer, ToolRunner, Settings], None], ...] = (
    tools.register,
    tools_deliverability.register,
    tools_dispatches.register,
    tools_inbox.register,
    tools_inbox_actions.register,
    tools_leads.register,
)


def build_server(
    runtime: Runtime, principal_resolver: PrincipalResolver, *, clock: Clock = utcnow
) -> MCPServer:
    """The MCP server with every tool; `principal_resolver` says who the current request is."""
    server = CarteiroServer(
        name="carteiro",
        title="Carteiro",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=log_level(runtime.settings.log_level),
        middleware=[ServerTimeInstructions(clock)],
    )
    runner = ToolRunner(runtime=runtime, resolve=principal_resolver, clock=clock)
    for register in TOOL_MODULES:
        register(server, runner, runtime.settings)
    return server

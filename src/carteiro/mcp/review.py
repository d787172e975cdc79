"""Review mode in the client: the person confirms a send through MCP elicitation.

A key in review mode holds what it sends until a person approves it. When the MCP client can
ask its user (it declares `elicitation`, and the protocol carries the question: an
`InputRequiredResult` round on 2026-07-28 and later, a server request on a connection that has
a back-channel before that), the tool asks first: yes queues the message released from review,
no queues nothing. Otherwise the message is held, and the `held` webhook event carries the
console link for approving it. The framework's `Resolve` runs the question before the tool
body, so a retried round never queues twice.
"""

from __future__ import annotations

from typing import Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from carteiro.errors import CarteiroError
from carteiro.mcp.toolkit import ToolRunner

# The first protocol revision whose tool calls can return InputRequiredResult.
INPUT_REQUIRED_VERSION = "2026-07-28"
DECLINED = "the person declined this send in their client: nothing was queued"


class ConfirmSend(BaseModel):
    """What the client shows its user."""

    send: bool = Field(description="send this message")


class NotAsked(BaseModel):
    """No question was asked: the key is not in review mode, or the client cannot be asked."""

    asked: bool = False


Confirmation = ElicitationResult[ConfirmSend | NotAsked]
# The parameter's default, for a call made in-process without the framework's resolvers.
NOT_ASKED: Confirmation = AcceptedElicitation(data=NotAsked())


def can_ask(ctx: Context) -> bool:
    """Whether this request can carry a question to the client's user."""
    try:
        capabilities = ctx.client_capabilities
        version = ctx.protocol_version
        back_channel = bool(ctx.session.can_send_request)
    except ValueError:
        return False  # called in-process, outside any MCP request: nobody to ask
    if capabilities is None or capabilities.elicitation is None:
        return False
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
        return True
    return back_channel


async def should_ask(ctx: Context, runner: ToolRunner) -> bool:
    if not runner.runtime.settings.mcp_elicit_review or not can_ask(ctx):
        return False
    try:
        principal = await runner.resolve(ctx)
    except CarteiroError:
        return False  # the tool itself reports the key's problem
    return principal.review_mode


def outcome(confirmation: Any) -> bool | None:
    """True: the person said yes; False: no (or dismissed); None: nobody was asked."""
    if isinstance(confirmation, AcceptedElicitation):
        data = confirmation.data
        if isinstance(data, ConfirmSend):
            return data.send
        return None
    return False


def question(to: list[str] | str, subject: str, extra: str = "") -> str:
    listed = to if isinstance(to, str) else ", ".join(to)
    return (
        f"Send this email? To: {listed}. Subject: {subject}.{extra} (This API key is in "
        "review mode: without your yes it would wait for approval in the console.)"
    )


def _runner(ctx: Context) -> ToolRunner | None:
    # Resolvers are module functions (the SDK reads their annotations from module globals),
    # so the runner comes from the server, which build_server gives one.
    runner = getattr(ctx.mcp_server, "runner", None)
    return runner if isinstance(runner, ToolRunner) else None


async def ask_send(
    ctx: Context, to: list[str] | str, subject: str
) -> Elicit[ConfirmSend] | NotAsked:
    """The resolver for send_email: asks about the recipients and subject it was given."""
    runner = _runner(ctx)
    if runner is None or not await should_ask(ctx, runner):
        return NotAsked()
    return Elicit(question(to, subject), ConfirmSend)


async def ask_reply(ctx: Context, message_id: int, body: str) -> Elicit[ConfirmSend] | NotAsked:
    """The resolver for reply_to_message: asks about the message answered and the text."""
    runner = _runner(ctx)
    if runner is None or not await should_ask(ctx, runner):
        return NotAsked()
    start = body.strip().replace("\n", " ")[:200]
    text = (
        f'Send this reply to inbox message {message_id}? It begins: "{start}". (This API '
        "key is in review mode: without your yes it would wait for approval.)"
    )
    return Elicit(text, ConfirmSend)

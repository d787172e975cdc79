"""Inbox action tools: mark read or flagged, move or archive, delete — on the IMAP server."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from carteiro.config import Settings
from carteiro.errors import InvalidInput
from carteiro.inbound import actions
from carteiro.inbound.schemas import ActionCreate, ActionName, ActionResult
from carteiro.mcp.toolkit import ToolRunner
from carteiro.tenancy import scopes
from carteiro.tenancy.service import Principal

MessageRef = Annotated[
    int | None,
    Field(ge=1, description="a message id (from get_thread); give this or thread_id"),
]
ThreadRef = Annotated[
    int | None,
    Field(ge=1, description="a thread_id (from search_inbox): acts on the whole thread"),
]

WHERE = """It is done on the IMAP server first and then stored, so the mailbox in any mail
client shows the same. Give message_id for one message or thread_id for a whole thread."""

UPDATE_DESCRIPTION = f"""Mark an inbox message (or thread) read or unread, flagged or unflagged.
{WHERE} For a thread, flag marks its newest message and unread its newest received one. Needs
the inbox:write scope."""

MOVE_DESCRIPTION = f"""Move an inbox message (or thread) to another folder of its account, given
by name or role (inbox, archive, junk, …); folder="archive" archives it (All Mail on Gmail).
{WHERE} A thread's Sent and Drafts copies stay where they are. Needs the inbox:write scope."""

DELETE_DESCRIPTION = f"""Delete an inbox message (or thread): it goes to the account's Trash; if
the account has no Trash, or the message already is in Trash, it is removed for good and cannot
be recovered. {WHERE} Needs the inbox:write scope."""


def _one(message_id: int | None, thread_id: int | None) -> tuple[list[int], list[int]]:
    if (message_id is None) == (thread_id is None):
        raise InvalidInput("give either message_id or thread_id", field="message_id")
    return ([message_id] if message_id else []), ([thread_id] if thread_id else [])


def register(server: MCPServer, runner: ToolRunner, settings: Settings) -> None:
    runtime = runner.runtime

    async def _act(
        ctx: Context,
        action: ActionName,
        folder: str | None,
        message_id: int | None,
        thread_id: int | None,
    ) -> ActionResult:
        async def work(principal: Principal) -> ActionResult:
            messages, threads = _one(message_id, thread_id)
            return await actions.perform(
                runtime,
                tenant_id=principal.tenant_id,
                data=ActionCreate(action=action, folder=folder),
                message_ids=messages,
                thread_ids=threads,
            )

        return await runner.run_outside_session(ctx, scopes.INBOX_WRITE, work)

    @server.tool(
        name="update_message",
        title="Mark read or flagged",
        description=UPDATE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Mark read or flagged",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def update_message(
        ctx: Context,
        mark: Annotated[
            Literal["read", "unread", "flag", "unflag"], Field(description="what to mark")
        ],
        message_id: MessageRef = None,
        thread_id: ThreadRef = None,
    ) -> ActionResult:
        return await _act(ctx, mark, None, message_id, thread_id)

    @server.tool(
        name="move_message",
        title="Move or archive",
        description=MOVE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Move or archive",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def move_message(
        ctx: Context,
        folder: Annotated[
            str, Field(min_length=1, max_length=1000, description="folder name or role")
        ],
        message_id: MessageRef = None,
        thread_id: ThreadRef = None,
    ) -> ActionResult:
        if folder.strip().lower() == "archive":
            return await _act(ctx, "archive", None, message_id, thread_id)
        return await _act(ctx, "move", folder, message_id, thread_id)

    @server.tool(
        name="delete_message",
        title="Delete a message",
        description=DELETE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Delete a message",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def delete_message(
        ctx: Context, message_id: MessageRef = None, thread_id: ThreadRef = None
    ) -> ActionResult:
        return await _act(ctx, "delete", None, message_id, thread_id)

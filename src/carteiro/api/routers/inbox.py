"""Inbox endpoints: threads, messages, replies, rules, folders and sync now."""

from __future__ import annotations

from fastapi import Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from carteiro.api.deps import InboxReadKey, InboxWriteKey, Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.db.types import RowId
from carteiro.inbound import actions, downloads, folders, service
from carteiro.inbound import rules as inbox_rules
from carteiro.inbound.replies import reply
from carteiro.inbound.schemas import (
    ActionCreate,
    ActionResult,
    BulkActionCreate,
    FolderPublic,
    MessagePublic,
    ReplyCreate,
    ReplyResult,
    RuleCreate,
    RulePublic,
    SyncReport,
    ThreadDetail,
    ThreadPage,
)
from carteiro.inbound.storage import BlobStore
from carteiro.inbound.worker import sync_account
from carteiro.runtime import Runtime
from carteiro.tenancy import scopes

router = Router(tags=["inbox"])


def _store(rt: Runtime) -> BlobStore:
    return BlobStore.for_data_dir(rt.settings.data_dir)


@router.get("/inbox/threads", response_model=ThreadPage, summary="Threads, newest first")
def list_threads(
    principal: InboxReadKey,
    session: Tx,
    folder: str | None = Query(None, description="folder name or role (inbox, sent, …)"),
    unread: bool | None = Query(None, description="only threads with (or without) unread mail"),
    flagged: bool | None = Query(None, description="only threads with (or without) a flag"),
    since: AwareDatetime | None = Query(None, description="last message at or after"),
    until: AwareDatetime | None = Query(None, description="last message before"),
    q: str | None = Query(None, max_length=200, description="text in subject, body or address"),
    lead_id: RowId | None = Query(None, description="threads with this lead"),
    account: str | None = Query(None, description="account name or id"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
    cursor: str | None = Query(None, max_length=200, description="a page's next_cursor"),
) -> ThreadPage:
    return service.list_threads(
        session,
        tenant_id=principal.tenant_id,
        folder=folder,
        unread=unread,
        flagged=flagged,
        since=since,
        until=until,
        cursor=cursor,
        q=q,
        lead_id=lead_id,
        account=account,
        limit=limit,
        offset=offset,
    )


@router.get("/inbox/threads/{thread_id}", response_model=ThreadDetail, summary="One thread")
def get_thread(thread_id: PathId, principal: InboxReadKey, session: Tx) -> ThreadDetail:
    return service.get_thread(session, tenant_id=principal.tenant_id, thread_id=thread_id)


@router.get(
    "/inbox/messages/{message_id}",
    response_model=MessagePublic,
    summary="One message with a page of its body (untrusted content)",
)
def get_message(
    message_id: PathId,
    principal: InboxReadKey,
    session: Tx,
    offset: Offset = 0,
    limit: int = Query(service.DEFAULT_BODY_PAGE, ge=1, le=service.MAX_BODY_PAGE),
    html: bool = Query(False, description="include the sanitised HTML body"),
) -> MessagePublic:
    return service.get_message(
        session,
        tenant_id=principal.tenant_id,
        message_id=message_id,
        offset=offset,
        limit=limit,
        include_html=html,
    )


@router.get(
    "/inbox/messages/{message_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
    summary="The message's original bytes",
)
def get_raw(message_id: PathId, principal: InboxReadKey, rt: Rt, session: Tx) -> Response:
    raw = downloads.raw_message(
        session, tenant_id=principal.tenant_id, message_id=message_id, settings=rt.settings
    )
    return Response(raw, media_type="message/rfc822", headers=downloads.SAFE_HEADERS)


@router.get(
    "/inbox/messages/{message_id}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="Download one attachment",
)
def get_attachment(
    message_id: PathId, attachment_id: PathId, principal: InboxReadKey, rt: Rt, session: Tx
) -> StreamingResponse:
    row, chunks = downloads.attachment(
        session,
        tenant_id=principal.tenant_id,
        message_id=message_id,
        attachment_id=attachment_id,
        store=_store(rt),
    )
    # The chunks come from the blob store, not the database: they stream after the commit.
    content_type = row.content_type
    return StreamingResponse(
        chunks,
        media_type=content_type if "/" in content_type else "application/octet-stream",
        headers=downloads.attachment_headers(row.filename),
    )


@router.post(
    "/inbox/messages/{message_id}/reply",
    response_model=ReplyResult,
    status_code=status.HTTP_201_CREATED,
    summary="Reply, reply to all or forward through the queue, threaded under the message",
)
def reply_to_message(
    message_id: PathId, data: ReplyCreate, principal: InboxWriteKey, rt: Rt, session: Tx
) -> ReplyResult:
    return reply(
        session,
        principal=principal,
        message_id=message_id,
        data=data,
        settings=rt.settings,
        store=_store(rt),
    )


ACTIONS_DOC = (
    "Carried out on the IMAP server first, then stored, so the next sync keeps it. Archive "
    "moves to the Archive folder (All Mail on Gmail); delete moves to Trash, or removes for "
    "good (\\Deleted + EXPUNGE) when the account has no Trash or the message is already in it."
)


@router.post(
    "/inbox/messages/{message_id}/actions",
    response_model=ActionResult,
    summary="Archive, move, flag, mark read or delete one message",
    description=ACTIONS_DOC,
)
async def message_action(
    message_id: PathId, data: ActionCreate, principal: InboxWriteKey, rt: Rt
) -> ActionResult:
    # Async: the action talks IMAP and opens its own short transactions.
    return await actions.perform(
        rt, tenant_id=principal.tenant_id, data=data, message_ids=[message_id]
    )


@router.post(
    "/inbox/threads/{thread_id}/actions",
    response_model=ActionResult,
    summary="The same for a whole thread",
    description=ACTIONS_DOC
    + " For a thread: archive takes its messages out of INBOX; move and delete leave Sent and "
    "Drafts copies; flag marks the newest message, unflag every one; read marks every message, "
    "unread the newest received one.",
)
async def thread_action(
    thread_id: PathId, data: ActionCreate, principal: InboxWriteKey, rt: Rt
) -> ActionResult:
    return await actions.perform(
        rt, tenant_id=principal.tenant_id, data=data, thread_ids=[thread_id]
    )


@router.post(
    "/inbox/actions",
    response_model=ActionResult,
    summary="One action on several messages and threads at once",
    description=ACTIONS_DOC,
)
async def bulk_action(data: BulkActionCreate, principal: InboxWriteKey, rt: Rt) -> ActionResult:
    return await actions.perform(
        rt,
        tenant_id=principal.tenant_id,
        data=ActionCreate(action=data.action, folder=data.folder),
        message_ids=data.message_ids,
        thread_ids=data.thread_ids,
    )


@router.get("/inbox/folders", response_model=list[FolderPublic], summary="Synced folders")
def list_folders(principal: InboxReadKey, session: Tx) -> list[FolderPublic]:
    return folders.list_folders(session, tenant_id=principal.tenant_id)


@router.post(
    "/accounts/{account_id}/sync",
    response_model=SyncReport,
    summary="Sync the account's IMAP folders now",
    tags=["accounts"],
)
async def sync_now(account_id: PathId, principal: InboxWriteKey, rt: Rt) -> SyncReport:
    # It makes the server connect where the account says, as an account test does.
    principal.require(scopes.ACCOUNTS_WRITE)
    # Async: the sync talks IMAP and opens its own short transactions.
    return await sync_account(rt, account_id=account_id, tenant_id=principal.tenant_id)


@router.get("/inbox/rules", response_model=list[RulePublic], summary="Automatic-reply rules")
def list_rules(principal: InboxReadKey, session: Tx) -> list[RulePublic]:
    return [
        inbox_rules.to_public(r) for r in inbox_rules.list_(session, tenant_id=principal.tenant_id)
    ]


@router.post(
    "/inbox/rules",
    response_model=RulePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add an automatic-reply rule (answers once per thread)",
)
def create_rule(data: RuleCreate, principal: InboxWriteKey, session: Tx) -> RulePublic:
    return inbox_rules.to_public(inbox_rules.create(session, principal=principal, data=data))


@router.delete(
    "/inbox/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a rule"
)
def delete_rule(rule_id: PathId, principal: InboxWriteKey, session: Tx) -> Response:
    inbox_rules.delete(session, tenant_id=principal.tenant_id, rule_id=rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

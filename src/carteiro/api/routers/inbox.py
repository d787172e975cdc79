"""Inbox endpoints: threads, messages, replies, rules, folders and sync now."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from carteiro.api.deps import Offset, PathId, get_runtime, require
from carteiro.db.types import RowId
from carteiro.inbound import downloads, folders, service
from carteiro.inbound import rules as inbox_rules
from carteiro.inbound.replies import reply
from carteiro.inbound.schemas import (
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
from carteiro.tenancy.service import Principal

# The lead adds these names to the scope list; until then a '*' key holds them.
INBOX_READ = getattr(scopes, "INBOX_READ", "inbox:read")
INBOX_WRITE = getattr(scopes, "INBOX_WRITE", "inbox:write")

router = APIRouter(tags=["inbox"])


def _store(rt: Runtime) -> BlobStore:
    return BlobStore.for_data_dir(rt.settings.data_dir)


@router.get("/inbox/threads", response_model=ThreadPage, summary="Threads, newest first")
async def list_threads(
    folder: str | None = Query(None, description="folder name or role (inbox, sent, …)"),
    unread: bool | None = Query(None, description="only threads with (or without) unread mail"),
    q: str | None = Query(None, max_length=200, description="text in subject, body or address"),
    lead_id: RowId | None = Query(None, description="threads with this lead"),
    account: str | None = Query(None, description="account name or id"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
    principal: Principal = Depends(require(INBOX_READ)),
    rt: Runtime = Depends(get_runtime),
) -> ThreadPage:
    def _run() -> ThreadPage:
        with rt.db.session() as session:
            return service.list_threads(
                session,
                tenant_id=principal.tenant_id,
                folder=folder,
                unread=unread,
                q=q,
                lead_id=lead_id,
                account=account,
                limit=limit,
                offset=offset,
            )

    return await run_in_threadpool(_run)


@router.get("/inbox/threads/{thread_id}", response_model=ThreadDetail, summary="One thread")
async def get_thread(
    thread_id: PathId,
    principal: Principal = Depends(require(INBOX_READ)),
    rt: Runtime = Depends(get_runtime),
) -> ThreadDetail:
    def _run() -> ThreadDetail:
        with rt.db.session() as session:
            return service.get_thread(session, tenant_id=principal.tenant_id, thread_id=thread_id)

    return await run_in_threadpool(_run)


@router.get(
    "/inbox/messages/{message_id}",
    response_model=MessagePublic,
    summary="One message with a page of its body (untrusted content)",
)
async def get_message(
    message_id: PathId,
    offset: Offset = 0,
    limit: int = Query(service.DEFAULT_BODY_PAGE, ge=1, le=service.MAX_BODY_PAGE),
    html: bool = Query(False, description="include the sanitised HTML body"),
    principal: Principal = Depends(require(INBOX_READ)),
    rt: Runtime = Depends(get_runtime),
) -> MessagePublic:
    def _run() -> MessagePublic:
        with rt.db.session() as session:
            return service.get_message(
                session,
                tenant_id=principal.tenant_id,
                message_id=message_id,
                offset=offset,
                limit=limit,
                include_html=html,
            )

    return await run_in_threadpool(_run)


@router.get(
    "/inbox/messages/{message_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
    summary="The message's original bytes",
)
async def get_raw(
    message_id: PathId,
    principal: Principal = Depends(require(INBOX_READ)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> bytes:
        with rt.db.session() as session:
            return downloads.raw_message(
                session,
                tenant_id=principal.tenant_id,
                message_id=message_id,
                settings=rt.settings,
            )

    return Response(
        await run_in_threadpool(_run),
        media_type="message/rfc822",
        headers=downloads.SAFE_HEADERS,
    )


@router.get(
    "/inbox/messages/{message_id}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="Download one attachment",
)
async def get_attachment(
    message_id: PathId,
    attachment_id: PathId,
    principal: Principal = Depends(require(INBOX_READ)),
    rt: Runtime = Depends(get_runtime),
) -> StreamingResponse:
    def _run() -> tuple[str, str, Iterator[bytes]]:
        with rt.db.session() as session:
            row, chunks = downloads.attachment(
                session,
                tenant_id=principal.tenant_id,
                message_id=message_id,
                attachment_id=attachment_id,
                store=_store(rt),
            )
            return row.filename, row.content_type, chunks

    filename, content_type, chunks = await run_in_threadpool(_run)
    return StreamingResponse(
        chunks,
        media_type=content_type if "/" in content_type else "application/octet-stream",
        headers=downloads.attachment_headers(filename),
    )


@router.post(
    "/inbox/messages/{message_id}/reply",
    response_model=ReplyResult,
    status_code=status.HTTP_201_CREATED,
    summary="Reply, reply to all or forward through the queue, threaded under the message",
)
async def reply_to_message(
    message_id: PathId,
    data: ReplyCreate,
    principal: Principal = Depends(require(INBOX_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> ReplyResult:
    def _run() -> ReplyResult:
        with rt.db.session() as session:
            return reply(
                session,
                principal=principal,
                message_id=message_id,
                data=data,
                settings=rt.settings,
                store=_store(rt),
            )

    return await run_in_threadpool(_run)


@router.get("/inbox/folders", response_model=list[FolderPublic], summary="Synced folders")
async def list_folders(
    principal: Principal = Depends(require(INBOX_READ)), rt: Runtime = Depends(get_runtime)
) -> list[FolderPublic]:
    def _run() -> list[FolderPublic]:
        with rt.db.session() as session:
            return folders.list_folders(session, tenant_id=principal.tenant_id)

    return await run_in_threadpool(_run)


@router.post(
    "/accounts/{account_id}/sync",
    response_model=SyncReport,
    summary="Sync the account's IMAP folders now",
    tags=["accounts"],
)
async def sync_now(
    account_id: PathId,
    principal: Principal = Depends(require(INBOX_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> SyncReport:
    # It makes the server connect where the account says, as an account test does.
    principal.require(scopes.ACCOUNTS_WRITE)
    return await sync_account(rt, account_id=account_id, tenant_id=principal.tenant_id)


@router.get("/inbox/rules", response_model=list[RulePublic], summary="Automatic-reply rules")
async def list_rules(
    principal: Principal = Depends(require(INBOX_READ)), rt: Runtime = Depends(get_runtime)
) -> list[RulePublic]:
    def _run() -> list[RulePublic]:
        with rt.db.session() as session:
            rows = inbox_rules.list_(session, tenant_id=principal.tenant_id)
            return [inbox_rules.to_public(r) for r in rows]

    return await run_in_threadpool(_run)


@router.post(
    "/inbox/rules",
    response_model=RulePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add an automatic-reply rule (answers once per thread)",
)
async def create_rule(
    data: RuleCreate,
    principal: Principal = Depends(require(INBOX_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> RulePublic:
    def _run() -> RulePublic:
        with rt.db.session() as session:
            rule = inbox_rules.create(session, principal=principal, data=data)
            return inbox_rules.to_public(rule)

    return await run_in_threadpool(_run)


@router.delete(
    "/inbox/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a rule"
)
async def delete_rule(
    rule_id: PathId,
    principal: Principal = Depends(require(INBOX_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> None:
        with rt.db.session() as session:
            inbox_rules.delete(session, tenant_id=principal.tenant_id, rule_id=rule_id)

    await run_in_threadpool(_run)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

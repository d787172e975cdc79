"""Request dependencies: the runtime, the transaction, the principal per scope, bounded ids."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carteiro.db.types import INT64_MAX
from carteiro.errors import InvalidInput
from carteiro.runtime import Runtime
from carteiro.tenancy import scopes
from carteiro.tenancy.service import Principal

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")

# Every id in a path and every offset goes to a BIGINT comparison, which the driver refuses past
# 64 bits; bounding them here turns that into a 422 naming the parameter on every router.
PathId = Annotated[int, Path(ge=1, le=INT64_MAX, description="the object's id")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="how many items to skip")]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


Rt = Annotated[Runtime, Depends(get_runtime)]


def get_session(rt: Rt) -> Iterator[Session]:
    """The request's one transaction: committed when the endpoint returns, rolled back if it
    raises."""
    with rt.db.session() as session:
        yield session


# Function scope: the commit runs once the endpoint's response is built, before it is sent, so a
# client reading right after a 201 sees the row (and a failed commit is the response). Routers
# are `carteiro.api.router.Router`s, so building the response never waits for a thread.
Tx = Annotated[Session, Depends(get_session, scope="function")]


async def in_transaction(rt: Runtime, work: Callable[[Session], T]) -> T:
    """For endpoints that must stay async (uploads, network tests): `work` runs in one
    transaction on a worker thread, so the event loop never waits on the database."""

    def _run() -> T:
        with rt.db.session() as session:
            return work(session)

    return await run_in_threadpool(_run)


def get_principal(
    rt: Rt, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    # A sync dependency: FastAPI runs the key lookup in its threadpool.
    return rt.authenticate(credentials.credentials if credentials else None)


Caller = Annotated[Principal, Depends(get_principal)]
"""Any valid key, whatever its scopes."""


def require(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency returning the principal after checking it holds `scope`."""

    # Async on purpose: a set lookup needs no worker thread.
    async def _dep(principal: Caller) -> Principal:
        principal.require(scope)
        return principal

    return _dep


SendKey = Annotated[Principal, Depends(require(scopes.EMAILS_SEND))]
EmailsReadKey = Annotated[Principal, Depends(require(scopes.EMAILS_READ))]
EmailsManageKey = Annotated[Principal, Depends(require(scopes.EMAILS_MANAGE))]
AccountsReadKey = Annotated[Principal, Depends(require(scopes.ACCOUNTS_READ))]
AccountsWriteKey = Annotated[Principal, Depends(require(scopes.ACCOUNTS_WRITE))]
LeadsReadKey = Annotated[Principal, Depends(require(scopes.LEADS_READ))]
LeadsWriteKey = Annotated[Principal, Depends(require(scopes.LEADS_WRITE))]
InboxReadKey = Annotated[Principal, Depends(require(scopes.INBOX_READ))]
InboxWriteKey = Annotated[Principal, Depends(require(scopes.INBOX_WRITE))]
DeliverabilityReadKey = Annotated[Principal, Depends(require(scopes.DELIVERABILITY_READ))]
DeliverabilityWriteKey = Annotated[Principal, Depends(require(scopes.DELIVERABILITY_WRITE))]
WebhooksWriteKey = Annotated[Principal, Depends(require(scopes.WEBHOOKS_WRITE))]
CampaignsReadKey = Annotated[Principal, Depends(require(scopes.CAMPAIGNS_READ))]
CampaignsWriteKey = Annotated[Principal, Depends(require(scopes.CAMPAIGNS_WRITE))]
AdminKey = Annotated[Principal, Depends(require(scopes.ADMIN))]


def _nul_at(value: object, path: str = "") -> str | None:
    """The field path of the first string holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items: Iterable[tuple[object, object]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return path or "body"
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        found = _nul_at(item, str(where))
        if found is not None:
            return found
    return None


async def refuse_nul(request: Request) -> None:
    """NUL characters cannot be stored in PostgreSQL text nor used in a file name; refused in
    every path, query and JSON value so no route fails on one later (mounted app-wide)."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in params:
        if "\x00" in str(name) or "\x00" in str(value):
            raise InvalidInput(f"{name}: NUL characters are not allowed", field=str(name))
    if "json" not in request.headers.get("content-type", ""):
        return
    body = await request.body()
    if b"\\u0000" not in body:  # a NUL reaches JSON text only escaped
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # the route reports malformed JSON itself
    where = _nul_at(data)
    if where is not None:
        field = where or "body"
        raise InvalidInput(f"{field}: NUL characters are not allowed", field=field)

"""Request dependencies: the runtime, the authenticated principal, bounded id and offset types."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from carteiro.db.types import INT64_MAX
from carteiro.errors import InvalidInput
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")

# Every id in a path and every offset goes to a BIGINT comparison, which the driver refuses past
# 64 bits; bounding them here turns that into a 422 naming the parameter on every router.
PathId = Annotated[int, Path(ge=1, le=INT64_MAX, description="the object's id")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="how many items to skip")]


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    runtime: Runtime = request.app.state.runtime
    plain = credentials.credentials if credentials else None
    return await run_in_threadpool(runtime.authenticate, plain)


def require(scope: str) -> Callable[..., object]:
    """A dependency returning the principal after checking it holds `scope`."""

    async def _dep(principal: Principal = Depends(get_principal)) -> Principal:
        principal.require(scope)
        return principal

    return _dep


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

"""Request dependencies: the runtime and the authenticated principal with a required scope."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


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

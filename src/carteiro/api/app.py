"""The ASGI application: REST API, MCP over streamable HTTP and the embedded worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from starlette.routing import Route

from carteiro import __version__, background
from carteiro.api import deps, errors, routers
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.api")

DESCRIPTION = """Carteiro's REST API. Authenticate with `Authorization: Bearer <API key>`.
Errors are JSON `{error, message, field?}` with a status that says what went wrong."""


def create_app(runtime: Runtime, *, run_worker: bool = True) -> FastAPI:
    """Builds the app; with `run_worker` a dispatcher runs inside the same event loop."""
    from carteiro.mcp.http import mcp_http

    mcp_asgi, mcp_lifespan = mcp_http(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if run_worker:
            task = asyncio.create_task(background.run_all(runtime, stop), name="carteiro-worker")
        try:
            async with mcp_lifespan():
                yield
        finally:
            stop.set()
            if task is not None:
                await task

    app = FastAPI(
        title="Carteiro",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(deps.refuse_nul)],
    )
    app.state.runtime = runtime
    errors.install(app)
    for router in routers.all_routers():
        app.include_router(router)
    app.router.routes.append(Route("/mcp", endpoint=mcp_asgi, methods=["GET", "POST", "DELETE"]))
    return app

"""The ASGI application: REST API, MCP over streamable HTTP and the embedded worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from carteiro import __version__, background
from carteiro.api import deps, errors, routers
from carteiro.api.body_limit import BodyLimit, RouteLimit
from carteiro.api.routers import tracking, whatsapp
from carteiro.config import Settings
from carteiro.runtime import Runtime
from carteiro.web import errors as web_errors
from carteiro.web import pages
from carteiro.web.security import ConsoleHeaders, csrf_protect
from carteiro.whatsapp.webhooks import MAX_BODY as MAX_WEBHOOK_BODY

STATIC = Path(pages.__file__).parent.parent / "static"

log = logging.getLogger("carteiro.api")

DESCRIPTION = """Carteiro's REST API. Authenticate with `Authorization: Bearer <API key>`.
Errors are JSON `{error, message, field?}` with a status that says what went wrong."""


# Routes that take mail (bodies, attachments, batches) or uploads; every other body gets the
# default JSON limit.
MAIL_ROUTES = (
    ("POST", "/emails"),
    ("POST", "/emails/batch"),
    ("POST", "/emails/mcp"),
    ("POST", "/mcp/email/send"),
    ("POST", "/inbox/messages/{message_id}/reply"),
    ("POST", "/mcp"),
)
UPLOAD_ROUTES = (("POST", "/ingest/leads/xlsx"), ("POST", "/ui/leads/import"))


# Meta's payloads reach 3 MB: under the default JSON limit a larger one was refused with 413
# before its signature was read, and redelivered until Meta gave up on it.
WEBHOOK_LIMIT = RouteLimit("POST", "/webhooks/whatsapp/{provider}/{number_id}", MAX_WEBHOOK_BODY)


def body_limits(settings: Settings) -> list[RouteLimit]:
    mail = [RouteLimit(m, p, settings.max_mail_request_bytes) for m, p in MAIL_ROUTES]
    upload = [RouteLimit(m, p, settings.max_upload_request_bytes) for m, p in UPLOAD_ROUTES]
    return [*mail, *upload, WEBHOOK_LIMIT]


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
    web_errors.install(app)
    for router in routers.ROUTERS:
        app.include_router(router)
    # The console: every page router gets the CSRF check for unsafe methods.
    for page_router in pages.PAGES:
        app.include_router(page_router, dependencies=[Depends(csrf_protect)])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.router.routes.append(Route("/mcp", endpoint=mcp_asgi, methods=["GET", "POST", "DELETE"]))
    if runtime.settings.oauth_enabled:
        from carteiro.api.oauth import oauth_routes

        app.router.routes.extend(oauth_routes(runtime))
    # First, so tracking hits and provider webhooks (the busiest public URLs) skip the scan of
    # every other route.
    app.router.routes[:0] = [tracking.HIT_ROUTE, whatsapp.WEBHOOK_ROUTE]
    # Added last, so it wraps everything else: no handler (and no authentication) reads a body
    # past its limit.
    public = runtime.settings.public_url or ""
    app.add_middleware(ConsoleHeaders, secure_cookies=public.startswith("https://"))
    app.add_middleware(
        BodyLimit,
        default=runtime.settings.max_request_bytes,
        routes=body_limits(runtime.settings),
    )
    return app

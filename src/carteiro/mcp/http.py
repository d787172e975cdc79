"""MCP over streamable HTTP at /mcp: the same Bearer keys as the REST API, stateless per request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlsplit

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from carteiro.config import Settings
from carteiro.errors import CarteiroError
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import PrincipalResolver
from carteiro.oauth.urls import resource_metadata_url
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

log = logging.getLogger("carteiro.mcp")

# ASGI scope key under which the endpoint leaves the authenticated principal for the tools.
PRINCIPAL_KEY = "carteiro.principal"

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")


def bearer_key(authorization: str | None) -> str | None:
    """The key from an `Authorization: Bearer <key>` value, or None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def transport_security(
    settings: Settings, extra_hosts: Sequence[str] = ()
) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback names, the public URL's host and any extra hosts.

    When the server listens on every interface with no public URL known, the Host header
    cannot be predicted, so the check is off there and the Bearer key is the only guard.
    """
    hosts: list[str] = []
    origins: list[str] = []

    def allow(host: str, scheme: str | None = None) -> None:
        hosts.extend([host, f"{host}:*"])
        for s in (scheme,) if scheme else ("http", "https"):
            origins.extend([f"{s}://{host}", f"{s}://{host}:*"])

    for host in _LOOPBACK_HOSTS:
        allow(host)
    bind = settings.host.strip()
    if bind and bind not in _WILDCARD_BINDS and bind not in ("::1", *_LOOPBACK_HOSTS):
        allow(f"[{bind}]" if ":" in bind else bind)
    if settings.public_url:
        url = urlsplit(settings.public_url)
        if url.hostname:
            host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
            allow(host, url.scheme or None)
            if url.port:
                hosts.append(f"{host}:{url.port}")
                origins.append(f"{url.scheme}://{host}:{url.port}")
    for host in extra_hosts:
        allow(host)
    enabled = bind not in _WILDCARD_BINDS or bool(settings.public_url) or bool(extra_hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=enabled, allowed_hosts=hosts, allowed_origins=origins
    )


def principal_from_request(runtime: Runtime) -> PrincipalResolver:
    """The principal of the HTTP request behind the current MCP request."""

    async def resolve(ctx: Context) -> Principal:
        request = ctx.request_context.request
        scope = getattr(request, "scope", None) or {}
        principal = scope.get(PRINCIPAL_KEY)
        if isinstance(principal, Principal):
            return principal
        # Reached only if the session manager is mounted without McpEndpoint in front.
        headers = getattr(request, "headers", None)
        key = bearer_key(headers.get("authorization") if headers is not None else None)
        return await anyio.to_thread.run_sync(runtime.authenticate, key)

    return resolve


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ASGIApp:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


class McpEndpoint:
    """ASGI app: checks the Bearer key, then hands the request to the SDK's session manager.

    A class instance rather than a function, so Starlette's `Route` passes it the raw ASGI
    call instead of wrapping it as a request handler.
    """

    def __init__(self, runtime: Runtime, server: MCPServer, security: TransportSecuritySettings):
        self.runtime = runtime
        self.server = server
        self.security = security
        self._manager: StreamableHTTPSessionManager | None = None
        # With OAuth on, the 401 tells a hosted client where to discover how to log in.
        self.challenge = "Bearer"
        if runtime.settings.oauth_enabled:
            url = resource_metadata_url(runtime.settings)
            self.challenge = f'Bearer resource_metadata="{url}"'

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # A session manager runs only once; a fresh one per start lets an app restart.
        # Stateless: every POST stands alone, so any API node behind a load balancer can
        # answer it without sticky sessions or a shared session store.
        self.server.streamable_http_app(
            stateless_http=True, json_response=True, transport_security=self.security
        )
        manager = self.server.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        manager = self._manager
        if manager is None:
            response = _error(503, "unavailable", "the MCP endpoint is not running")
            await response(scope, receive, send)
            return
        key = bearer_key(Headers(scope=scope).get("authorization"))
        try:
            principal = await anyio.to_thread.run_sync(self.runtime.authenticate, key)
        except CarteiroError as exc:
            challenge = self.challenge
            if key and self.runtime.settings.oauth_enabled:
                # RFC 6750 §3.1: a token was presented but is expired or revoked, so an OAuth
                # client refreshes it (or logs in again) instead of asking for one.
                challenge += ', error="invalid_token"'
            headers = {"WWW-Authenticate": challenge} if exc.status == 401 else None
            await _error(exc.status, exc.code, exc.message, headers)(scope, receive, send)
            return
        except OperationalError as exc:
            log.error("database error while authenticating an MCP request: %s", exc.orig)
            response = _error(503, "unavailable", "the database does not answer; try again")
            await response(scope, receive, send)
            return
        if scope["method"] == "GET":
            # Stateless: there is no session to push to, so a standalone SSE stream would stay
            # open and silent, holding a connection; the spec allows 405 instead.
            response = _error(
                405,
                "method_not_allowed",
                "this MCP endpoint is stateless: send every message with POST",
                {"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        await manager.handle_request({**scope, PRINCIPAL_KEY: principal}, receive, send)


def mcp_http(
    runtime: Runtime, *, allowed_hosts: Sequence[str] = ()
) -> tuple[ASGIApp, Callable[[], AbstractAsyncContextManager[None]]]:
    """The /mcp ASGI endpoint and the lifespan that must be entered while it serves.

    `allowed_hosts` adds Host names (besides loopback and CARTEIRO_PUBLIC_URL's) that the
    DNS-rebinding check accepts.
    """
    server = build_server(runtime, principal_from_request(runtime))
    endpoint = McpEndpoint(runtime, server, transport_security(runtime.settings, allowed_hosts))
    return endpoint, endpoint.lifespan

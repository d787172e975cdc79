"""OAuth 2.1 endpoints for hosted MCP clients, from the MCP SDK's own handlers.

RFC 9728 protected-resource metadata for /mcp, RFC 8414 authorization-server metadata,
RFC 7591 dynamic client registration, /authorize (to the console's consent page), /token
(PKCE S256, and rotating refresh tokens) and /revoke (RFC 7009). Served when
CARTEIRO_OAUTH_ENABLED is true; Bearer API keys work either way."""

from __future__ import annotations

from urllib.parse import parse_qsl

from mcp.server.auth.routes import create_auth_routes, create_protected_resource_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carteiro.oauth.provider import CarteiroOAuthProvider
from carteiro.oauth.urls import issuer, resource_url
from carteiro.runtime import Runtime
from carteiro.tenancy.scopes import ALL_SCOPES, DEFAULT_KEY_SCOPES


def oauth_routes(runtime: Runtime) -> list[Route]:
    base = AnyHttpUrl(issuer(runtime.settings))
    routes = create_auth_routes(
        CarteiroOAuthProvider(runtime),
        issuer_url=base,
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=list(ALL_SCOPES), default_scopes=list(DEFAULT_KEY_SCOPES)
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    for route in routes:
        if route.path == "/revoke":
            route.app = public_client_revocation(route.app)
    routes += create_protected_resource_routes(
        resource_url=AnyHttpUrl(resource_url(runtime.settings)),
        authorization_servers=[base],
        scopes_supported=list(ALL_SCOPES),
        resource_name="Carteiro MCP",
    )
    return routes


REVOKE_BODY_MAX = 64 * 1024


def public_client_revocation(app: ASGIApp) -> ASGIApp:
    """The SDK's revocation handler requires a `client_secret` field even from public clients
    (auth method `none`), which RFC 7009 does not ask of them: a form without one gets an empty
    one. A confidential client is still refused without its secret."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > REVOKE_BODY_MAX:
                await PlainTextResponse("request body too large", status_code=413)(
                    scope, receive, send
                )
                return
        fields = {name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)}
        if "client_secret" not in fields:
            body += b"&client_secret=" if body else b"client_secret="
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return wrapped

"""OAuth 2.1 endpoints for hosted MCP clients, from the MCP SDK's own handlers.

RFC 9728 protected-resource metadata for /mcp, RFC 8414 authorization-server metadata,
RFC 7591 dynamic client registration, /authorize (to the console's consent page) and /token
(PKCE S256). Served when CARTEIRO_OAUTH_ENABLED is true; Bearer API keys work either way."""

from __future__ import annotations

from mcp.server.auth.routes import create_auth_routes, create_protected_resource_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl
from starlette.routing import Route

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
        revocation_options=RevocationOptions(enabled=False),
    )
    routes += create_protected_resource_routes(
        resource_url=AnyHttpUrl(resource_url(runtime.settings)),
        authorization_servers=[base],
        scopes_supported=list(ALL_SCOPES),
        resource_name="Carteiro MCP",
    )
    return routes

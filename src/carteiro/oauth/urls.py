"""Where this server says it is, for OAuth metadata and the 401 challenge of /mcp."""

from __future__ import annotations

from mcp.server.auth.routes import build_resource_metadata_url
from pydantic import AnyHttpUrl

from carteiro.config import Settings


def issuer(settings: Settings) -> str:
    """The server's public origin: CARTEIRO_PUBLIC_URL, else the loopback listener."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://127.0.0.1:{settings.port}"


def resource_url(settings: Settings) -> str:
    return f"{issuer(settings)}/mcp"


def resource_metadata_url(settings: Settings) -> str:
    """RFC 9728 §3.1: /.well-known/oauth-protected-resource followed by the resource's path."""
    return str(build_resource_metadata_url(AnyHttpUrl(resource_url(settings))))

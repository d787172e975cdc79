"""OAuth 2.1 refresh tokens (rotation, reuse revokes the family) and RFC 7009 revocation,
through the real HTTP app on a loopback port, with the MCP SDK's client on the refreshed token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from leadsui import post
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from sqlalchemy import select
from webkit import login

from carteiro.api.app import create_app
from carteiro.db.types import utcnow
from carteiro.oauth.models import OAuthRefreshToken
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.service import hash_key
from carteiro.testing.asgi_server import serve_in_thread

CALLBACK = "http://127.0.0.1:33418/callback"
# Generous: the machine running the suite may be busy (httpx waits 5 s by default).
TIMEOUT = 30.0


@dataclass
class Granted:
    client_id: str
    access: str
    refresh: str
    body: dict[str, Any]


@pytest.fixture
def base(runtime: Runtime) -> Iterator[str]:
    runtime.settings.oauth_enabled = True
    with serve_in_thread(create_app(runtime, run_worker=False)) as url:
        yield url


@pytest.fixture
def grant(base: str, make_user: Callable[..., Any]) -> Iterator[Callable[..., Granted]]:
    """Registers a client, has an admin approve it in the console, exchanges the code."""
    clients: list[httpx.Client] = []
    make_user("admin@example.com", "admin")

    def run(scope: str = "emails:send emails:read") -> Granted:
        hosted = httpx.Client(base_url=base, timeout=TIMEOUT)
        person = httpx.Client(base_url=base, timeout=TIMEOUT)
        clients.extend([hosted, person])
        created = hosted.post(
            "/register",
            json={
                "redirect_uris": [CALLBACK],
                "client_name": "Assistente Web",
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        asked = hosted.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": CALLBACK,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "st",
                "scope": scope,
            },
        )
        assert asked.status_code == 302, asked.text
        request_id = parse_qs(urlsplit(asked.headers["location"]).query)["request"][0]
        assert login(person, "admin@example.com").status_code == 303  # type: ignore[arg-type]
        approved = post(
            person,  # type: ignore[arg-type]
            "/ui/oauth/consent",
            {
                "request": request_id,
                "decision": "approve",
                "scopes": scope.split(),
                "allowed_recipients": "*@cliente.example",
            },
        )
        assert approved.status_code == 303, approved.text
        code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
        issued = hosted.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        assert issued.status_code == 200, issued.text
        body = issued.json()
        return Granted(client_id, body["access_token"], body["refresh_token"], body)

    yield run
    for client in clients:
        client.close()


def refresh(base: str, granted: Granted, token: str, scope: str | None = None) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": granted.client_id}
    if scope is not None:
        data["scope"] = scope
    return httpx.post(f"{base}/token", timeout=TIMEOUT, data=data)


def revoke(base: str, client_id: str, token: str, hint: str | None = None) -> httpx.Response:
    data = {"token": token, "client_id": client_id}
    if hint:
        data["token_type_hint"] = hint
    return httpx.post(f"{base}/revoke", timeout=TIMEOUT, data=data)


def emails_status(base: str, token: str) -> int:
    return httpx.get(
        f"{base}/emails", timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}
    ).status_code


@asynccontextmanager
async def mcp_session(base: str, token: str) -> AsyncIterator[ClientSession]:
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def test_the_metadata_advertises_refresh_and_revocation(base: str) -> None:
    server = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    assert "refresh_token" in server["grant_types_supported"]
    assert server["revocation_endpoint"] == f"{server['issuer'].rstrip('/')}/revoke"
    assert server["revocation_endpoint_auth_methods_supported"]


async def test_a_refreshed_token_works_over_mcp_and_the_old_one_stops(
    base: str, grant: Callable[..., Granted], runtime: Runtime
) -> None:
    first = grant()
    assert first.body["token_type"] == "Bearer" and first.body["expires_in"] == 3600
    with runtime.db.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(first.access)))
        assert key is not None and key.expires_at is not None
        left = key.expires_at - utcnow()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)

    renewed = refresh(base, first, first.refresh)
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["access_token"].startswith("ct_") and body["access_token"] != first.access
    assert body["refresh_token"] != first.refresh and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"emails:send", "emails:read"}
    assert emails_status(base, first.access) == 401
    assert emails_status(base, body["access_token"]) == 200

    async with mcp_session(base, body["access_token"]) as session:
        sent = await session.call_tool(
            "send_email", {"to": "ana@cliente.example", "subject": "Renovado", "body": "b"}
        )
        assert not sent.is_error, sent.content
        outside = await session.call_tool(
            "send_email", {"to": "x@outro.example", "subject": "Fora", "body": "b"}
        )
        assert outside.is_error  # the rotated key kept the allow-list the person chose
    assert sent.structured_content is not None
    with runtime.db.session() as session:
        emails = [(e.id, e.subject, e.source) for e in session.scalars(select(Email))]
        names = {k.name for k in session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))}
    assert emails == [(sent.structured_content["id"], "Renovado", "mcp")]
    assert "oauth: Assistente Web" in names

    narrowed = refresh(base, first, body["refresh_token"], scope="emails:read")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "emails:read"
    wider = refresh(base, first, narrowed.json()["refresh_token"], scope="accounts:read")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    base: str, grant: Callable[..., Granted], runtime: Runtime
) -> None:
    first = grant()
    second = refresh(base, first, first.refresh).json()
    reused = refresh(base, first, first.refresh)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The thief's (or the client's) newer tokens die with it.
    assert emails_status(base, second["access_token"]) == 401
    assert refresh(base, first, second["refresh_token"]).json()["error"] == "invalid_grant"
    with runtime.db.session() as session:
        statuses = sorted(r.status for r in session.scalars(select(OAuthRefreshToken)))
    assert statuses == ["revoked", "rotated"]

    other = grant()  # another grant of the same person is untouched
    assert emails_status(base, other.access) == 200


def test_an_expired_access_token_is_refused_until_refreshed(
    base: str, grant: Callable[..., Granted], runtime: Runtime
) -> None:
    first = grant()
    with runtime.db.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(first.access)))
        assert key is not None
        key.expires_at = utcnow() - timedelta(seconds=1)
    refused = httpx.get(
        f"{base}/emails", timeout=TIMEOUT, headers={"Authorization": f"Bearer {first.access}"}
    )
    assert refused.status_code == 401 and "expired" in refused.text
    mcp = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {first.access}"},
        timeout=TIMEOUT,
    )
    assert mcp.status_code == 401
    assert mcp.headers["www-authenticate"].endswith(', error="invalid_token"')
    assert "resource_metadata=" in mcp.headers["www-authenticate"]
    renewed = refresh(base, first, first.refresh)
    assert renewed.status_code == 200, renewed.text
    assert emails_status(base, renewed.json()["access_token"]) == 200


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_ends_the_grant(
    base: str, grant: Callable[..., Granted], which: str
) -> None:
    first = grant()
    token = first.access if which == "access_token" else first.refresh
    done = revoke(base, first.client_id, token, hint=which)
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    assert emails_status(base, first.access) == 401
    assert refresh(base, first, first.refresh).json()["error"] == "invalid_grant"


def test_revocation_ignores_unknown_tokens_and_other_clients_keys(
    base: str, grant: Callable[..., Granted], api_key: str
) -> None:
    first = grant()
    assert revoke(base, first.client_id, "no-such-token").status_code == 200
    # A client cannot revoke an API key it was not issued, nor another client's token.
    assert revoke(base, first.client_id, api_key).status_code == 200
    assert emails_status(base, api_key) == 200
    other = grant()
    assert revoke(base, other.client_id, first.access).status_code == 200
    assert emails_status(base, first.access) == 200
    missing = httpx.post(f"{base}/revoke", timeout=TIMEOUT, data={"client_id": first.client_id})
    assert missing.status_code == 400 and "token" in missing.text


def test_a_key_revoked_in_the_console_cannot_be_refreshed(
    base: str, grant: Callable[..., Granted], runtime: Runtime
) -> None:
    first = grant()
    with runtime.db.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(first.access)))
        assert key is not None
        key.revoked_at = utcnow()
    refused = refresh(base, first, first.refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "revoked" in refused.json()["error_description"]

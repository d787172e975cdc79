"""The MCP SDK's own OAuth client against the served app: discovery, registration, the
authorization code with PKCE approved by a person in the console, and, once the access token
has expired, a refresh done by the SDK on its own (no second approval)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from leadsui import post
from mcp.client import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from sqlalchemy import select
from webkit import login

from carteiro.api.app import create_app
from carteiro.oauth.models import OAuthRefreshToken
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import loopback_socket, serve_in_thread

CALLBACK = "http://127.0.0.1:33419/callback"
TIMEOUT = 30.0
LIFETIME = 3  # seconds an access token lives here (the setting's floor is a minute)


class Storage:
    """The SDK's token storage, in memory, keeping every token set it was given."""

    def __init__(self) -> None:
        self.tokens: list[OAuthToken] = []
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens[-1] if self.tokens else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Approver:
    """The person at the browser: follows the authorization URL, logs in, approves."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.approvals = 0
        self.redirect: dict[str, list[str]] = {}

    def _approve(self, url: str) -> None:
        with (
            httpx.Client(base_url=self.base, timeout=TIMEOUT) as browser,
            httpx.Client(base_url=self.base, timeout=TIMEOUT) as person,
        ):
            asked = browser.get(url)
            assert asked.status_code == 302, asked.text
            request_id = parse_qs(urlsplit(asked.headers["location"]).query)["request"][0]
            assert login(person, "admin@example.com").status_code == 303  # type: ignore[arg-type]
            approved = post(
                person,  # type: ignore[arg-type]
                "/ui/oauth/consent",
                {
                    "request": request_id,
                    "decision": "approve",
                    "scopes": ["emails:send", "emails:read"],
                    "allowed_recipients": "*@cliente.example",
                },
            )
            assert approved.status_code == 303, approved.text
        location = approved.headers["location"]
        assert location.startswith(CALLBACK), location
        self.redirect = parse_qs(urlsplit(location).query)
        self.approvals += 1

    async def redirect_handler(self, url: str) -> None:
        await anyio.to_thread.run_sync(self._approve, url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        found = {k: v[0] for k, v in self.redirect.items()}
        return AuthorizationCodeResult(
            code=found["code"], state=found.get("state"), iss=found.get("iss")
        )


@pytest.fixture
def base(runtime: Runtime, make_user: Callable[..., Any]) -> Iterator[str]:
    runtime.settings.oauth_enabled = True
    # Past the setting's validation on purpose: waiting out the real minimum would slow the suite.
    runtime.settings.oauth_access_token_seconds = LIFETIME
    make_user("admin@example.com", "admin")
    sock = loopback_socket()
    # The metadata names the public address; here that is the loopback port just bound.
    runtime.settings.public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve_in_thread(create_app(runtime, run_worker=False), sock=sock) as url:
        yield url


async def _send(session: ClientSession, subject: str) -> int:
    sent = await session.call_tool(
        "send_email", {"to": "ana@cliente.example", "subject": subject, "body": "b"}
    )
    assert not sent.is_error, sent.content
    assert sent.structured_content is not None
    return int(sent.structured_content["id"])


async def test_the_sdk_client_authorizes_then_refreshes_an_expired_token_alone(
    base: str, runtime: Runtime
) -> None:
    storage, person = Storage(), Approver(base)
    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(CALLBACK)],
            client_name="Agente SDK",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="emails:send emails:read",
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    async with (
        create_mcp_http_client(auth=provider) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        first = await _send(session, "Primeiro")
        # A busy machine may already have needed a refresh here; the count is what follows.
        assert person.approvals == 1 and storage.tokens
        issued, before = storage.tokens[0], len(storage.tokens)
        assert issued.refresh_token and issued.expires_in == LIFETIME
        await anyio.sleep(LIFETIME + 0.5)
        # The server refuses the old token now, so a refusal would send the SDK back to the
        # person; it refreshes first instead, because it knows the token's lifetime.
        stale = httpx.get(
            f"{base}/emails",
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {issued.access_token}"},
        )
        assert stale.status_code == 401
        started = time.monotonic()
        second = await _send(session, "Depois de renovar")
        assert time.monotonic() - started < TIMEOUT
    assert person.approvals == 1, "the SDK asked the person again instead of refreshing"
    assert len(storage.tokens) > before
    renewed = storage.tokens[-1]
    assert renewed.access_token != issued.access_token
    assert renewed.refresh_token and renewed.refresh_token != issued.refresh_token
    with runtime.db.session() as session_:
        statuses = sorted(r.status for r in session_.scalars(select(OAuthRefreshToken)))
        subjects = {e.id: e.subject for e in session_.scalars(select(Email))}
    # One live refresh token; every earlier one was rotated (none revoked as reused).
    assert statuses == ["active"] + ["rotated"] * (len(storage.tokens) - 1)
    assert subjects == {first: "Primeiro", second: "Depois de renovar"}

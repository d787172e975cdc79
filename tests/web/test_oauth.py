"""OAuth 2.1 for hosted MCP clients over HTTP: metadata, registration, PKCE, the consent page."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from leadsui import post
from webkit import login

from carteiro.api.app import create_app
from carteiro.runtime import Runtime

CALLBACK = "http://127.0.0.1:33418/callback"


@pytest.fixture
def app_client(runtime: Runtime) -> Iterator[Callable[[], TestClient]]:
    runtime.settings.oauth_enabled = True
    runtime.settings.public_url = "https://mail.example.com"
    app = create_app(runtime, run_worker=False)
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, base_url="https://mail.example.com")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def register(client: TestClient) -> str:
    created = client.post(
        "/register",
        json={
            "redirect_uris": [CALLBACK],
            "client_name": "Assistente Web",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        },
    )
    assert created.status_code == 201, created.text
    client_id: str = created.json()["client_id"]
    return client_id


def authorize(client: TestClient, client_id: str, challenge: str) -> str:
    asked = client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "st-123",
            "scope": "emails:send emails:read",
        },
        follow_redirects=False,
    )
    assert asked.status_code == 302, asked.text
    location = asked.headers["location"]
    assert location.startswith("/ui/oauth/consent?request=")
    return location


def token(client: TestClient, client_id: str, code: str, verifier: str) -> Any:
    return client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


def test_metadata_and_the_challenge(app_client: Callable[[], TestClient]) -> None:
    client = app_client()
    resource = client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert resource["resource"] == "https://mail.example.com/mcp"
    assert resource["authorization_servers"] == ["https://mail.example.com/"]
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["registration_endpoint"] == "https://mail.example.com/register"
    assert server["token_endpoint"] == "https://mail.example.com/token"
    refused = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        'Bearer resource_metadata="https://mail.example.com/.well-known/oauth-protected-resource/mcp"'
    )


def test_a_person_approves_a_grant_that_becomes_a_key(
    app_client: Callable[[], TestClient], make_user: Callable[..., Any], api_key: str
) -> None:
    hosted = app_client()
    client_id = register(hosted)
    verifier, challenge = pkce()
    consent_url = authorize(hosted, client_id, challenge)

    make_user("admin@example.com", "admin")
    person = app_client()
    assert login(person, "admin@example.com").status_code == 303
    page = person.get(consent_url)
    assert page.status_code == 200
    assert "Assistente Web" in page.text and "127.0.0.1:33418" in page.text
    assert "form-action 'self' http://127.0.0.1:33418" in page.headers["content-security-policy"]
    request_id = parse_qs(urlsplit(consent_url).query)["request"][0]
    approved = post(
        person,
        "/ui/oauth/consent",
        {
            "request": request_id,
            "decision": "approve",
            "scopes": ["emails:send", "emails:read"],
            "allowed_recipients": "*@cliente.example",
            "review_mode": "true",
        },
    )
    assert approved.status_code == 303
    back = urlsplit(approved.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    query = parse_qs(back.query)
    assert query["state"] == ["st-123"]
    code = query["code"][0]

    assert token(hosted, client_id, code, "wrong-verifier-" + "x" * 40).status_code == 400
    issued = token(hosted, client_id, code, verifier)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["access_token"].startswith("ct_")
    assert set(body["scope"].split()) == {"emails:send", "emails:read"}
    again = token(hosted, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    sent = hosted.post(
        "/emails",
        json={"to_email": "ana@cliente.example", "subject": "Oi", "body": "b"},
        headers=bearer,
    )
    assert sent.status_code == 201 and sent.json()["status"] == "held"
    outside = hosted.post(
        "/emails",
        json={"to_email": "x@outro.example", "subject": "Oi", "body": "b"},
        headers=bearer,
    )
    assert outside.status_code == 403
    assert hosted.get("/accounts", headers=bearer).status_code == 403
    # Bearer API keys keep working beside OAuth.
    assert hosted.get("/emails", headers={"Authorization": f"Bearer {api_key}"}).status_code == 200


def test_a_denied_grant_returns_an_error_to_the_client(
    app_client: Callable[[], TestClient], make_user: Callable[..., Any]
) -> None:
    hosted = app_client()
    client_id = register(hosted)
    _, challenge = pkce()
    consent_url = authorize(hosted, client_id, challenge)
    make_user("admin@example.com", "admin")
    person = app_client()
    login(person, "admin@example.com")
    request_id = parse_qs(urlsplit(consent_url).query)["request"][0]
    denied = post(person, "/ui/oauth/consent", {"request": request_id, "decision": "deny"})
    assert denied.status_code == 303
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["st-123"]}
    gone = person.get(consent_url)
    assert gone.status_code == 404


def test_only_admins_see_the_consent_page(
    app_client: Callable[[], TestClient], make_user: Callable[..., Any]
) -> None:
    hosted = app_client()
    consent_url = authorize(hosted, register(hosted), pkce()[1])
    make_user("op@example.com", "operator")
    person = app_client()
    login(person, "op@example.com")
    assert person.get(consent_url).status_code == 403
    anonymous = app_client().get(consent_url, follow_redirects=False)
    assert anonymous.status_code == 303 and "/ui/login?next=" in anonymous.headers["location"]

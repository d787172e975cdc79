"""The OAuth consent page in a real browser: accessible, and its answer reaches the client's
own address (the page's CSP lets the form go there)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect
from test_browser import assert_accessible, csp_errors, log_in  # noqa: F401  (fixture)
from webkit import LiveServer, Made

from carteiro.runtime import Runtime
from carteiro.testing.http_receiver import HttpReceiver

pytestmark = pytest.mark.web


@pytest.fixture
def oauth_server(runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    runtime.settings.oauth_enabled = True
    server: LiveServer = request.getfixturevalue("live_server")
    yield server


def test_an_admin_approves_and_the_browser_returns_to_the_client(
    page: Page,
    oauth_server: LiveServer,
    make_user: Callable[..., Made],
    csp_errors: list[str],  # noqa: F811
) -> None:
    make_user("dona@example.com", "admin", name="Dona Maria")
    with HttpReceiver() as client_app:
        callback = f"{client_app.url.rstrip('/')}/callback"
        with httpx.Client(base_url=oauth_server.url) as http:
            registered = http.post(
                "/register",
                json={
                    "redirect_uris": [callback],
                    "client_name": "Conector Web",
                    "token_endpoint_auth_method": "none",
                },
            )
            assert registered.status_code == 201, registered.text
            client_id = registered.json()["client_id"]
            verifier = secrets.token_urlsafe(48)
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .decode()
                .rstrip("=")
            )
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": callback,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": "s1",
                    "scope": "emails:read",
                }
            )
            log_in(page, oauth_server, "dona@example.com")
            page.goto(f"{oauth_server.url}/authorize?{query}")
            expect(page.get_by_role("heading", level=1)).to_have_text("Conectar um aplicativo")
            expect(page.get_by_text("Conector Web pede para usar o Carteiro")).to_be_visible()
            assert page.get_by_label("emails:read").is_checked()
            assert page.get_by_label("Modo de revisão").is_checked()
            assert_accessible(page)
            page.get_by_role("button", name="Aprovar").click()
            page.wait_for_url(re.compile(re.escape(callback) + r"\?"))
            back = parse_qs(urlsplit(page.url).query)
            assert back["state"] == ["s1"]
            issued = http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": back["code"][0],
                    "redirect_uri": callback,
                    "client_id": client_id,
                    "code_verifier": verifier,
                },
            )
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "emails:read"
    assert not [e for e in csp_errors if "Content Security Policy" in e]

"""Helpers shared by the console tests (a module of its own: conftest names clash)."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from carteiro.runtime import Runtime

PASSWORD = "correct-horse-battery"

_CANDIDATES = (
    os.environ.get("CARTEIRO_CHROMIUM", ""),
    "/usr/lib/chromium/chromium-headless-shell",  # Debian chromium-headless-shell (fastest)
    "/usr/lib/chromium/chromium",  # Debian chromium (the real binary, not the shell wrapper)
    shutil.which("chromium-headless-shell") or "",
    shutil.which("chromium") or "",
)


def find_chromium() -> str | None:
    return next((c for c in _CANDIDATES if c and os.access(c, os.X_OK)), None)


@dataclass
class Made:
    id: int
    email: str
    role: str


def csrf_of(client: TestClient) -> str:
    """The CSRF token: the cookie's value, set by the first console page."""
    if "carteiro_csrf" not in client.cookies:
        client.get("/ui/login")
    token = client.cookies.get("carteiro_csrf")
    assert token
    return token


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/ui/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )


@dataclass
class LiveServer:
    url: str
    runtime: Runtime

    def setup_link(self) -> str:
        token = self.runtime.setup_token()
        assert token is not None
        return f"{self.url}/setup/{token}"


SERIOUS = ("serious", "critical")


def axe_violations(page: Any) -> list[str]:
    """Serious or critical axe-core violations of the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(re.sub(r"\s+", " ", n["html"])[:120] for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]

"""Tracking fixtures: settings with a public URL, an API client, a fixture that tracks a body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.tracking import body, service
from carteiro.tracking.body import Tracked

PUBLIC_URL = "https://mail.carteiro.test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC_URL, "tracking_settle_seconds": 0.0})


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_worker=False)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {api_key}"
        yield test_client


class Tracker:
    """Rewrites a body and registers its token, as a send with `track` does."""

    def __init__(self, runtime: Runtime, tenant_id: int) -> None:
        self.runtime = runtime
        self.tenant_id = tenant_id

    def __call__(
        self,
        html: str | None,
        *,
        text: str | None = None,
        anonymous: bool = False,
        email_id: int | None = None,
    ) -> Tracked:
        tracked = body.rewrite(self.runtime.settings, html_body=html, text_body=text)
        with self.runtime.db.session() as session:
            service.register(
                session,
                tenant_id=self.tenant_id,
                tracked=tracked,
                email_id=email_id,
                anonymous=anonymous,
            )
        return tracked


@pytest.fixture
def track(runtime: Runtime, principal: Principal) -> Tracker:
    return Tracker(runtime, principal.tenant_id)

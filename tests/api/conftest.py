"""API fixtures: a TestClient over the real app, keys for two tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def make_key(runtime: Runtime, api_key: str):  # type: ignore[no-untyped-def]
    """Creates a key (optionally in another tenant) and returns the plain secret."""

    def _make(tenant: str = "default", **options: object) -> str:
        with runtime.db.session() as session:
            t = tenancy.get_tenant_by_slug(session, slug=tenant) or tenancy.create_tenant(
                session, slug=tenant
            )
            _, plain = tenancy.create_key(session, tenant_id=t.id, name="test", **options)  # type: ignore[arg-type]
            return plain

    return _make

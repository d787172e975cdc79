"""Agent fixtures: extra API keys (the fake chat model lives in agentkit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy


@pytest.fixture
def make_key(runtime: Runtime, api_key: str) -> Callable[..., str]:
    """Creates another key of the default tenant and returns it in plain text."""

    def make(name: str = "agent", **options: Any) -> str:
        with runtime.db.session() as session:
            tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
            _, plain = tenancy.create_key(session, tenant_id=tenant.id, name=name, **options)
        return plain

    return make


@pytest.fixture
def agent_key(make_key: Callable[..., str]) -> str:
    """A key that may mail only *@empresa.com."""
    return make_key("agente", allowed_recipients=["*@empresa.com"])

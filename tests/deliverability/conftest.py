"""Deliverability fixtures: a local DNS server, an HTTP receiver, settings that use them, an API
client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.mail.resolver import DnsResolver
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.testing.dns_server import DnsServer
from carteiro.testing.http_receiver import HttpReceiver

PUBLIC_URL = "https://mail.carteiro.test"


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, dns_server: DnsServer) -> Settings:
    """The shared test settings, resolving through the local DNS server only."""
    return settings.model_copy(
        update={
            "dns_nameservers": ["127.0.0.1"],
            "dns_port": dns_server.port,
            "dns_timeout": 2.0,
            "public_url": PUBLIC_URL,
            # Tests deliver webhooks to 127.0.0.1.
            "webhook_allow_private": True,
            "webhook_retry_base_seconds": 0.05,
            "webhook_retry_max_seconds": 0.2,
            "webhook_poll_interval": 0.05,
            "webhook_timeout": 5.0,
        }
    )


@pytest.fixture
def resolver(dns_server: DnsServer) -> DnsResolver:
    return DnsResolver(nameservers=("127.0.0.1",), port=dns_server.port, timeout=2.0)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def make_key(runtime: Runtime, api_key: str) -> Callable[..., str]:
    """Creates a key (optionally in another tenant) and returns the plain secret."""

    def _make(tenant: str = "default", **options: object) -> str:
        with runtime.db.session() as session:
            t = tenancy.get_tenant_by_slug(session, slug=tenant) or tenancy.create_tenant(
                session, slug=tenant
            )
            _, plain = tenancy.create_key(session, tenant_id=t.id, name="test", **options)  # type: ignore[arg-type]
            return plain

    return _make

"""Transport fixtures shared by the SMTP transport and pipelining tests: real servers on
loopback, and transports that are always closed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from carteiro.mail.transports.smtp import SmtpConfig, SmtpTransport

USERS = {"alice": "s3cret"}

# `carteiro serve` runs on uvloop (uvicorn's default) and `carteiro worker` on asyncio's own
# loop: whatever touches transports is tested on both.
BOTH_LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
_ON_BOTH_LOOPS = {
    "test_smtp_transport",
    "test_pipelining",
    "test_dispatcher",
    "test_send_path_deliverability",
    "test_send_path_dkim_unsubscribe",
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""  # type: ignore[attr-defined]
    if module in _ON_BOTH_LOOPS:
        return BOTH_LOOPS
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`sink_factory(SinkClass, **kwargs)` starts a server that is stopped after the test."""
    started: list[Any] = []

    def make(cls: type, **kwargs: Any) -> Any:
        kwargs.setdefault("cert_dir", tmp_path / f"certs{len(started)}")
        kwargs.setdefault("users", USERS)
        sink = cls(**kwargs).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


@pytest.fixture
async def transports() -> AsyncIterator[list[SmtpTransport]]:
    made: list[SmtpTransport] = []
    yield made
    for transport in made:
        await transport.close()


@pytest.fixture
def make_transport(transports: list[SmtpTransport]) -> Callable[..., SmtpTransport]:
    """A transport logged in as alice to `sink`, trusting its certificate; overrides go to
    SmtpConfig (plus `idle_check_seconds`)."""

    def make(sink: Any, **overrides: Any) -> SmtpTransport:
        idle_check = overrides.pop("idle_check_seconds", 10.0)
        config = SmtpConfig(
            host=sink.hostname,
            port=sink.port,
            security=getattr(sink, "security", "starttls"),
            username="alice",
            password="s3cret",
            ca_file=str(sink.cert_path) if sink.cert_path else None,
            timeout=5.0,
            local_hostname="client.test",
        )
        transport = SmtpTransport(
            dataclasses.replace(config, **overrides), idle_check_seconds=idle_check
        )
        transports.append(transport)
        return transport

    return make

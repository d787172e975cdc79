"""Campaign fixtures: the HTTP app on a free port for the MCP client (helpers live in campkit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import serve_in_thread


@pytest.fixture
def http_base(runtime: Runtime, api_key: str) -> Iterator[str]:
    with serve_in_thread(create_app(runtime, run_worker=False)) as base:
        yield base

"""The request harness: one transaction per request, committed before the response is sent,
rolled back on an error, whose errors map like any other; and every router, tool module and
model module is listed where the app, the MCP server and the metadata look for it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import pytest
from fastapi import APIRouter, status
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

import carteiro
import carteiro.api.routers as routers_package
import carteiro.mcp as mcp_package
from carteiro.api.app import create_app
from carteiro.api.deps import Tx
from carteiro.api.router import Router
from carteiro.db import models
from carteiro.errors import NotFound
from carteiro.mcp import server
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy

probe = Router()


@probe.post("/_probe/tenants/{slug}", status_code=status.HTTP_201_CREATED)
def create_then(slug: str, session: Tx, fail: str = "") -> dict[str, str]:
    tenancy.create_tenant(session, slug=slug)
    if fail == "raise":
        raise NotFound(f"no such thing as {slug}")
    if fail == "commit":

        def _down(_: object) -> None:
            raise OperationalError("COMMIT", {}, Exception("connection lost"))

        event.listen(session, "before_commit", _down)
    return {"slug": slug}


@pytest.fixture
def probed(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _exists(runtime: Runtime, slug: str) -> bool:
    with runtime.db.session() as session:
        return tenancy.get_tenant_by_slug(session, slug=slug) is not None


def test_the_transaction_commits_before_the_response(probed: TestClient, runtime: Runtime) -> None:
    answer = probed.post("/_probe/tenants/kept")
    assert answer.status_code == 201
    assert _exists(runtime, "kept")


def test_a_domain_error_in_a_sync_endpoint_maps_and_rolls_back(
    probed: TestClient, runtime: Runtime
) -> None:
    answer = probed.post("/_probe/tenants/undone", params={"fail": "raise"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert not _exists(runtime, "undone")


def test_a_failed_commit_is_the_response(probed: TestClient, runtime: Runtime) -> None:
    # Were the commit after the response, the client would hold a 201 for a row that is gone.
    answer = probed.post("/_probe/tenants/lost", params={"fail": "commit"})
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert not _exists(runtime, "lost")


def test_no_endpoint_leaves_its_response_to_the_threadpool() -> None:
    # A sync endpoint FastAPI runs itself validates its response on a worker thread before the
    # commit; under load that deadlocks (see `carteiro.api.router.threaded`).
    for router in routers_package.ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                assert inspect.iscoroutinefunction(route.endpoint), route.path


def _modules(package: ModuleType, prefix: str = "") -> list[ModuleType]:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith(prefix)
    ]


def test_every_router_module_is_mounted() -> None:
    found = {id(m.router) for m in _modules(routers_package) if isinstance(m.router, APIRouter)}
    assert found == {id(r) for r in routers_package.ROUTERS}


def test_every_tool_module_is_registered() -> None:
    found = {m.register for m in _modules(mcp_package, "tools")}
    assert found == set(server.TOOL_MODULES)


def test_every_models_module_is_listed() -> None:
    found = set()
    for info in pkgutil.iter_modules(carteiro.__path__):
        if info.ispkg and info.name not in {"db", "mcp", "testing"}:
            try:
                found.add(importlib.import_module(f"carteiro.{info.name}.models"))
            except ModuleNotFoundError:
                continue
    assert found == set(models.MODELS)

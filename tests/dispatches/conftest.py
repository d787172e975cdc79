"""Dispatch fixtures: the real app, a lead with an e-mail and a mobile, a Cloud API number
backed by the in-process fake, and a worker whose HTTP goes to that fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dispatchkit import Lead, make_lead, register_number
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.fake_whatsapp import FakeCloudApi


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def fake() -> FakeCloudApi:
    api = FakeCloudApi()
    api.add_number("1122334455", "wa-token")
    api.add_template("lembrete_pagamento", 2)
    return api


@pytest.fixture
def number_id(runtime: Runtime, principal: Principal) -> int:
    return register_number(runtime, principal)


@pytest.fixture
def lead(runtime: Runtime, principal: Principal) -> Lead:
    return make_lead(runtime, principal.tenant_id)


@pytest.fixture
def worker(runtime: Runtime, fake: FakeCloudApi, number_id: int) -> DispatchWorker:
    transport = fake.transport()
    return DispatchWorker(runtime, transport_for=lambda _base: transport)

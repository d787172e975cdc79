"""The per-key hourly limit counts recipients and holds under concurrency; held seed answers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import serve_in_thread

MakeKey = Callable[..., str]
MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_limit_counts_recipients_not_messages(client: TestClient, make_key: MakeKey) -> None:
    limited = bearer(make_key(rate_limit_per_hour=5))
    two = {**MSG, "cc_emails": "bia@example.com"}
    assert client.post("/emails", json=two, headers=limited).status_code == 201
    assert client.post("/emails", json=two, headers=limited).status_code == 201
    r = client.post("/emails", json={**MSG, "bcc_emails": "caio@example.com"}, headers=limited)
    assert r.status_code == 429, r.text
    assert 3500 <= int(r.headers["retry-after"]) <= 3600
    assert client.post("/emails", json=MSG, headers=limited).status_code == 201


def test_more_recipients_than_the_whole_limit_is_not_a_429(
    client: TestClient, make_key: MakeKey
) -> None:
    limited = bearer(make_key(rate_limit_per_hour=3))
    many = {**MSG, "to_email": [f"p{i}@example.com" for i in range(4)]}
    r = client.post("/emails", json=many, headers=limited)
    assert r.status_code == 413 and "retry-after" not in r.headers
    assert r.json()["field"] == "to_email" and "limit of 3" in r.json()["message"]
    batch = client.post("/emails/batch", json=[MSG] * 4, headers=limited)
    assert batch.status_code == 413 and batch.json()["field"] == "emails"
    assert client.get("/emails", headers=limited).json()["total"] == 0
    # Within the limit the same key still sends.
    assert client.post("/emails/batch", json=[MSG] * 3, headers=limited).status_code == 202


def test_the_seed_channel_endpoint_answers_held_for_a_review_key(
    client: TestClient, make_key: MakeKey
) -> None:
    reviewed = bearer(make_key(review_mode=True))
    payload = {"to": "ana@example.com", "subject": "Olá", "body": "Corpo"}
    r = client.post("/mcp/email/send?wait=2", json=payload, headers=reviewed)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "held"
    assert client.get(f"/emails/{r.json()['id']}").json()["status"] == "held"


@pytest.fixture
def served(runtime: Runtime, api_key: str) -> Iterator[str]:
    """The real app on a loopback port, so requests run concurrently in its thread pool."""
    with serve_in_thread(create_app(runtime, run_worker=False)) as base:
        yield base


@pytest.mark.skipif(
    os.environ.get("CARTEIRO_TEST_DATABASE", "sqlite") == "sqlite",
    reason="SQLite begins every transaction IMMEDIATE, so writers already run one at a time",
)
def test_concurrent_requests_never_pass_the_limit(served: str, make_key: MakeKey) -> None:
    limited = bearer(make_key(rate_limit_per_hour=10))
    barrier = threading.Barrier(50)

    def send(_: int) -> int:
        with httpx.Client(base_url=served, headers=limited, timeout=60) as c:
            barrier.wait()
            return c.post("/emails", json=MSG).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(send, range(50)))
    assert codes.count(201) == 10, codes
    assert codes.count(429) == 40, codes

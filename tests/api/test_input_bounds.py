"""Bad input anywhere in the API is a 4xx naming the field, never a 500 from the database."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from carteiro.api import routers

TOO_BIG = 2**63
MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}
ACCOUNT = {"name": "a", "email": "a@example.com", "smtp": {"host": "smtp.example.com"}}


def _routes() -> list[APIRoute]:
    return [r for router in routers.ROUTERS for r in router.routes if isinstance(r, APIRoute)]


ID_ROUTES = [
    (method, route.path)
    for route in _routes()
    if re.search(r"\{\w+_id\}", route.path)
    for method in sorted(route.methods)
]
OFFSET_ROUTES = [
    route.path
    for route in _routes()
    if "GET" in route.methods
    and "{" not in route.path
    and any(p.name == "offset" for p in route.dependant.query_params)
]


@pytest.fixture
def strict(client: TestClient) -> TestClient:
    """The same client, answering a server error as a 500 instead of raising it."""
    client.raise_server_exceptions = False
    return client


def test_every_router_is_covered() -> None:
    assert len(ID_ROUTES) > 25 and len(OFFSET_ROUTES) >= 6


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_path_ids_past_64_bits_are_422(strict: TestClient, method: str, path: str) -> None:
    names = re.findall(r"\{(\w+_id)\}", path)
    for name in names:
        url = path
        for other in names:
            url = url.replace(f"{{{other}}}", str(TOO_BIG) if other == name else "1")
        r = strict.request(method, url, json={})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["field"] == name


@pytest.mark.parametrize("path", OFFSET_ROUTES)
def test_huge_offsets_are_422(strict: TestClient, path: str) -> None:
    r = strict.get(path, params={"offset": str(TOO_BIG)})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "offset"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/accounts", {**ACCOUNT, "limits": {"per_day": TOO_BIG}}, "limits.per_day"),
        ("POST", "/accounts", {**ACCOUNT, "limits": {"per_minute": 2**31}}, "limits.per_minute"),
        ("POST", "/accounts", {**ACCOUNT, "warmup": {"start": TOO_BIG, "target": 9}}, "warmup"),
        ("POST", "/accounts", {**ACCOUNT, "warmup": {"schedule": [2**40], "target": 9}}, "warmup"),
        ("POST", "/keys", {"name": "k", "rate_limit_per_hour": TOO_BIG}, "rate_limit_per_hour"),
        ("POST", "/inbox/rules", {"name": "r", "body": "x", "account": TOO_BIG}, "account"),
        ("POST", "/emails", {**MSG, "account": TOO_BIG}, "account"),
        ("POST", "/queue/dead/requeue", {"ids": [TOO_BIG]}, "ids[0]"),
    ],
)
def test_numbers_for_integer_columns_are_bounded(
    strict: TestClient, method: str, path: str, body: dict, field: str
) -> None:
    r = strict.request(method, path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00Z",
    ],
)
def test_dates_at_the_edges_of_the_calendar_are_422(strict: TestClient, when: str) -> None:
    one = strict.post("/emails", json={**MSG, "scheduled_at": when})
    assert one.status_code == 422, one.text
    assert one.json()["field"] == "scheduled_at"
    batch = strict.post("/emails/batch", json=[MSG, {**MSG, "scheduled_at": when}])
    assert batch.status_code == 422, batch.text
    assert batch.json()["field"] == "emails[1].scheduled_at"
    assert strict.get("/emails").json()["total"] == 0


def test_a_date_with_an_offset_is_still_accepted(strict: TestClient) -> None:
    r = strict.post("/emails", json={**MSG, "scheduled_at": "2031-05-01T09:00:00-03:00"})
    assert r.status_code == 201, r.text
    assert r.json()["scheduled_at"].startswith("2031-05-01T12:00:00")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("POST", "/ingest/leads/xlsx", {"json": {"path": "a\x00b.xlsx"}}, "path"),
        ("POST", "/emails", {"json": {**MSG, "body": "a\x00b"}}, "body"),
        ("POST", "/emails/batch", {"json": [MSG, {**MSG, "html_body": "\x00"}]}, "[1].html_body"),
        ("POST", "/accounts", {"json": {**ACCOUNT, "name": "a\x00"}}, "name"),
        ("POST", "/keys", {"json": {"name": "k\x00"}}, "name"),
        ("POST", "/inbox/rules", {"json": {"name": "r", "body": "\x00"}}, "body"),
        ("GET", "/leads", {"params": {"q": "a\x00"}}, "q"),
        ("GET", "/suppressions", {"params": {"q": "\x00"}}, "q"),
        ("GET", "/inbox/threads", {"params": {"folder": "\x00"}}, "folder"),
    ],
)
def test_nul_characters_are_422_naming_the_field(
    strict: TestClient, method: str, path: str, kwargs: dict, field: str
) -> None:
    r = strict.request(method, path, **kwargs)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and "NUL" in r.json()["message"]


def test_malformed_json_has_the_error_shape(strict: TestClient) -> None:
    for path in ("/emails", "/emails/batch", "/accounts"):
        headers = {"Content-Type": "application/json"}
        r = strict.post(path, content=b'{"to_email": ', headers=headers)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "invalid" and body["field"] == "body"
        assert body["message"].startswith("body: the request body is not valid JSON")

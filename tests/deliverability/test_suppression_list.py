"""The suppression list: service, REST API, CLI and MCP tools."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from mcp.client import Client
from sqlalchemy import event, func, select

from carteiro.errors import InvalidInput, NotFound
from carteiro.leads import suppression
from carteiro.leads.models import Suppression
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


@contextmanager
def count_queries(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", before)


def other_tenant(runtime: Runtime, slug: str = "outro") -> int:
    with runtime.db.session() as session:
        return tenancy.create_tenant(session, slug=slug).id


def test_suppress_is_idempotent_and_normalises(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        first, created = suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="Ana.Silva@Exemplo.COM.br",
            reason="manual",
            source="test",
        )
        again, created_again = suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="ana.silva@exemplo.com.br",
            reason="unsubscribe",
            source="test",
        )
        total = session.scalar(select(func.count(Suppression.id)))
    assert created and not created_again
    assert again.id == first.id and again.reason == "manual"  # the first reason is kept
    assert first.value == "ana.silva@exemplo.com.br" and first.kind == "email"
    assert total == 1


def test_domain_entry_matches_every_address_of_the_domain(
    runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            domain="Concorrente.com.BR",
            reason="manual",
            source="test",
        )
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="bounce@ok.com",
            reason="hard_bounce",
            source="test",
        )
        found = suppression.is_suppressed(
            session,
            tenant_id=principal.tenant_id,
            addresses=[
                "joao@concorrente.com.br",
                "Maria@CONCORRENTE.com.br",
                "bounce@ok.com",
                "fine@ok.com",
                "x@sub.concorrente.com.br",
            ],
        )
    assert found == {
        "joao@concorrente.com.br": "manual",
        "Maria@CONCORRENTE.com.br": "manual",
        "bounce@ok.com": "hard_bounce",
    }


def test_idn_domains_are_stored_as_punycode(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        row, _ = suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            domain="açaí.com.br",
            reason="manual",
            source="t",
        )
        found = suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=["ana@xn--aa-4iaz.com.br"]
        )
    assert row.value == "xn--aa-4iaz.com.br"
    assert found == {"ana@xn--aa-4iaz.com.br": "manual"}


def test_a_batch_of_1000_is_checked_in_one_query(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        suppression.suppress_many(
            session,
            tenant_id=principal.tenant_id,
            emails=[f"r{i}@example.com" for i in range(0, 1000, 10)],
            reason="hard_bounce",
            source="test",
        )
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            domain="blocked.org",
            reason="manual",
            source="t",
        )
    addresses = [f"r{i}@example.com" for i in range(900)] + [
        f"p{i}@blocked.org" for i in range(100)
    ]
    with runtime.db.session() as session, count_queries(runtime) as statements:
        found = suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=addresses
        )
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert len(found) == 90 + 100
    assert found["r10@example.com"] == "hard_bounce" and found["p5@blocked.org"] == "manual"
    assert "r11@example.com" not in found


def test_tenants_do_not_see_each_other(runtime: Runtime, principal: Principal) -> None:
    other = other_tenant(runtime)
    with runtime.db.session() as session:
        row, _ = suppression.suppress(
            session, tenant_id=other, email="x@example.com", reason="manual", source="t"
        )
        mine = suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=["x@example.com"]
        )
        with pytest.raises(NotFound):
            suppression.delete(session, tenant_id=principal.tenant_id, suppression_id=row.id)
    assert mine == {}


@pytest.mark.parametrize(
    ("email", "domain", "reason", "field"),
    [
        (None, None, "manual", "email"),
        ("a@example.com", "example.com", "manual", "email"),
        ("not-an-address", None, "manual", "email"),
        (None, "exa mple.com", "manual", "domain"),
        (None, "localhost", "manual", "domain"),
        (None, "-bad-.com", "manual", "domain"),
        ("a@example.com", None, "because", "reason"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    runtime: Runtime,
    principal: Principal,
    email: str | None,
    domain: str | None,
    reason: str,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as raised, runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email=email,
            domain=domain,
            reason=reason,
            source="t",
        )
    assert raised.value.field == field
    with runtime.db.session() as session:
        assert session.scalar(select(func.count(Suppression.id))) == 0


# -- REST API ----------------------------------------------------------------------------------


def test_api_create_list_page_and_delete(client: TestClient) -> None:
    created = client.post("/suppressions", json={"email": "Ana@Example.com", "reason": "complaint"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "ana@example.com" and body["domain"] is None
    assert body["reason"] == "complaint" and body["source"] == "api"

    repeat = client.post("/suppressions", json={"email": "ana@example.com"})
    assert repeat.status_code == 200 and repeat.json()["id"] == body["id"]

    assert client.post("/suppressions", json={"domain": "spam.example"}).status_code == 201
    for i in range(5):
        client.post("/suppressions", json={"email": f"p{i}@example.org", "reason": "unsubscribe"})

    page = client.get("/suppressions", params={"limit": 3, "offset": 0}).json()
    assert page["total"] == 7 and len(page["items"]) == 3 and page["limit"] == 3
    rest = client.get("/suppressions", params={"limit": 3, "offset": 6}).json()
    assert len(rest["items"]) == 1
    only = client.get("/suppressions", params={"reason": "unsubscribe"}).json()
    assert only["total"] == 5
    search = client.get("/suppressions", params={"q": "spam"}).json()
    assert [i["domain"] for i in search["items"]] == ["spam.example"]

    assert client.delete(f"/suppressions/{body['id']}").status_code == 204
    assert client.delete(f"/suppressions/{body['id']}").status_code == 404
    assert client.get("/suppressions").json()["total"] == 6


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "a@example.com", "domain": "example.com"}, ""),
        ({"email": "nope"}, "email"),
        ({"domain": "not a domain"}, "domain"),
        ({"email": "a@example.com", "reason": "bored"}, "reason"),
        ({"email": "a@example.com", "extra": 1}, "extra"),
    ],
)
def test_api_bad_input_is_422_and_changes_nothing(
    client: TestClient, payload: dict, field: str
) -> None:
    response = client.post("/suppressions", json=payload)
    assert response.status_code == 422, response.text
    assert field in (response.json().get("field") or "")
    assert client.get("/suppressions").json()["total"] == 0


def test_api_scopes_and_tenancy(
    client: TestClient, runtime: Runtime, make_key: Callable[..., str]
) -> None:
    created = client.post("/suppressions", json={"email": "a@example.com"}).json()
    reader = make_key(scopes=["emails:read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get("/suppressions", headers=headers).status_code == 403
    assert (
        client.post("/suppressions", json={"email": "b@x.com"}, headers=headers).status_code == 403
    )

    stranger = {"Authorization": f"Bearer {make_key(tenant='outro')}"}
    assert client.get("/suppressions", headers=stranger).json()["total"] == 0
    assert client.delete(f"/suppressions/{created['id']}", headers=stranger).status_code == 404
    assert client.get("/suppressions", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/suppressions").json()["total"] == 1


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_add_list_remove(runtime: Runtime, api_key: str, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from carteiro.cli.suppressions import app
    from carteiro.config import get_settings

    s = runtime.settings
    env = {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "COLUMNS": "200",
    }
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARTEIRO_API_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=env)
        finally:
            get_settings.cache_clear()

    added = run("add", "Joao@Example.com", "--reason", "complaint")
    assert added.exit_code == 0, added.output
    assert "suppressed joao@example.com" in added.output
    assert "already suppressed" in run("add", "joao@example.com").output
    assert run("add", "concorrente.com.br").exit_code == 0
    listed = run("list")
    assert "joao@example.com" in listed.output and "@concorrente.com.br" in listed.output
    assert "complaint" in listed.output

    bad = run("add", "not a domain")
    assert bad.exit_code != 0

    removed = run("remove", "joao@example.com", "--yes")
    assert removed.exit_code == 0, removed.output
    missing = run("remove", "joao@example.com", "--yes")
    assert missing.exit_code != 0
    with runtime.db.session() as session:
        values = list(session.scalars(select(Suppression.value)))
    assert values == ["concorrente.com.br"]


# -- MCP ---------------------------------------------------------------------------------------


async def test_mcp_tools(runtime: Runtime, principal: Principal) -> None:
    server = build_server(runtime, fixed_principal(principal))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        names = set(tools)
        added = await client.call_tool(
            "suppress_address", {"email": "ana@example.com", "reason": "unsubscribe"}
        )
        again = await client.call_tool("suppress_address", {"email": "ana@example.com"})
        both = await client.call_tool(
            "suppress_address", {"email": "x@example.com", "domain": "example.com"}
        )
        listed = await client.call_tool("list_suppressions", {"reason": "unsubscribe"})
        removed = await client.call_tool(
            "remove_suppression", {"id": added.structured_content["id"]}
        )
        gone = await client.call_tool("remove_suppression", {"id": added.structured_content["id"]})
    assert {"suppress_address", "list_suppressions", "remove_suppression"} <= names
    assert "check_account_dns" in names
    for name in (
        "suppress_address",
        "list_suppressions",
        "remove_suppression",
        "check_account_dns",
    ):
        tool = tools[name]
        assert tool.description and tool.annotations is not None, name
        assert tool.input_schema["type"] == "object", name
        assert tool.output_schema and tool.output_schema["type"] == "object", name
    assert tools["list_suppressions"].annotations.read_only_hint is True
    assert tools["remove_suppression"].annotations.destructive_hint is True
    assert tools["suppress_address"].annotations.idempotent_hint is True
    assert not added.is_error and added.structured_content["created"] is True
    assert again.structured_content["created"] is False
    assert both.is_error
    assert listed.structured_content["total"] == 1
    assert removed.structured_content["email"] == "ana@example.com"
    assert gone.is_error and "not found" in gone.content[0].text

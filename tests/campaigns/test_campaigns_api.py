"""The REST surface: segments, templates, campaigns and their actions; errors as the contract
says (422 naming the field, 404 for another tenant's object, 409 naming the status)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from campkit import BODY, add_leads, ledger, tick
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.leads import suppression
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_worker=False)) as c:
        yield c


def test_campaign_through_the_api(
    runtime: Runtime, principal: Principal, api_key: str, client: TestClient
) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "Sol", "contato_nome": "Ana", "tags": ["vip"], "email": "ana@sol.com"},
            {"nome": "Lua", "tags": ["vip"], "email": "bia@lua.com"},
            {"nome": "Mar", "email": "mar@x.com"},
        ],
    )
    seg = client.post(
        "/segments",
        headers=h,
        json={
            "name": "VIP",
            "definition": {"kind": "rules", "rule": {"type": "tag", "tag": "vip"}},
        },
    )
    assert seg.status_code == 201, seg.text
    prev = client.get(f"/segments/{seg.json()['id']}/preview", headers=h).json()
    assert (prev["leads"], prev["addresses"]) == (2, 2)
    bad = client.post(
        "/segments/preview",
        headers=h,
        json={"definition": {"kind": "rules", "rule": {"type": "field", "field": "salario"}}},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "definition.rule.field"
    layout = client.post(
        "/templates",
        headers=h,
        json={"name": "Marca", "body": "<html><body><b>Marca</b>{{ content }}</body></html>"},
    )
    assert layout.status_code == 201
    assert (
        client.post("/templates", headers=h, json={"name": "x", "body": "no slot"}).status_code
        == 422
    )

    created = client.post(
        "/campaigns",
        headers=h,
        json={
            "name": "Promo",
            "segment_id": seg.json()["id"],
            "template_id": layout.json()["id"],
            "variants": [
                {
                    "subject": "Oi {{ nome }}",
                    "content": BODY,
                    "format": "html",
                    "preheader": "Só hoje",
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["status"] == "draft"
    preview = client.get(f"/campaigns/{cid}/preview?lead_id=1", headers=h).json()
    assert preview["subject"] == "Oi Sol" and "Olá Ana" in preview["html"]
    assert "Marca" in preview["html"] and "/u/" in preview["html"] and "Só hoje" in preview["text"]
    # PATCH: a field left out keeps the layout, an explicit null drops it, an id puts it back.
    renamed = client.patch(f"/campaigns/{cid}", headers=h, json={"name": "Promo 2"})
    assert renamed.status_code == 200 and renamed.json()["template_id"] == layout.json()["id"]
    dropped = client.patch(f"/campaigns/{cid}", headers=h, json={"template_id": None})
    assert dropped.status_code == 200 and dropped.json()["template_id"] is None
    bare = client.get(f"/campaigns/{cid}/preview?lead_id=1", headers=h).json()
    assert "Marca" not in bare["html"] and "Olá Ana" in bare["html"]
    back = client.patch(f"/campaigns/{cid}", headers=h, json={"template_id": layout.json()["id"]})
    assert back.status_code == 200 and back.json()["template_id"] == layout.json()["id"]
    again = client.get(f"/campaigns/{cid}/preview?lead_id=1", headers=h).json()
    assert "Marca" in again["html"]
    lint = client.post(f"/campaigns/{cid}/lint", headers=h).json()
    assert lint["ok"] and lint["audience"] == 2
    test = client.post(f"/campaigns/{cid}/test", headers=h, json={"to": ["eu@empresa.com"]})
    assert test.status_code == 202
    with runtime.db.session() as session:
        copy = session.get_one(Email, test.json()["ids"][0])
    assert copy.subject.startswith("[TEST] ")
    assert (
        client.post(f"/campaigns/{cid}/pause", headers=h)
        .json()["message"]
        .startswith(f"campaign {cid} is draft")
    )
    started = client.post(f"/campaigns/{cid}/start", headers=h)
    assert started.status_code == 200 and started.json()["status"] == "scheduled"
    tick(runtime)
    stats = client.get(f"/campaigns/{cid}/stats?accounts=true", headers=h).json()
    assert stats["status"] == "sending" and stats["counts"]["queued"] == 2
    assert stats["counts"]["sent"] == 0  # the test send is not counted
    page = client.get(f"/campaigns/{cid}/recipients?status=queued", headers=h).json()
    assert page["total"] == 2
    csv = client.get(f"/campaigns/{cid}/recipients?format=csv", headers=h)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("id,address,lead_id,status")
    assert len(csv.text.splitlines()) == 3
    assert client.get(f"/campaigns/{cid}/recipients?status=nope", headers=h).status_code == 422
    assert client.get(f"/campaigns/{cid}/ab", headers=h).json()["enabled"] is False

    # Unsubscribe from a campaign message: the one-click link in its headers.
    row = next(r for r in ledger(runtime, cid) if r.address == "ana@sol.com")
    with runtime.db.session() as session:
        raw = session.get_one(Email, row.email_id).raw
    url = re.search(rb"<(https?://[^>]+/u/[^>]+)>", raw.replace(b"\r\n ", b" "))
    assert url is not None
    path = "/u/" + url.group(1).decode().rsplit("/u/", 1)[1]
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with runtime.db.session() as session:
        assert suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=["ana@sol.com"]
        )

    assert client.post(f"/campaigns/{cid}/pause", headers=h).json()["status"] == "paused"
    assert client.post(f"/campaigns/{cid}/resume", headers=h).json()["status"] == "sending"
    assert client.post(f"/campaigns/{cid}/cancel", headers=h).json()["status"] == "cancelled"
    again = client.post(f"/campaigns/{cid}/cancel", headers=h)
    assert again.status_code == 409 and "is cancelled" in again.json()["message"]
    assert client.delete(f"/campaigns/{cid}", headers=h).status_code == 204


def test_other_tenant_and_scopes(
    runtime: Runtime, principal: Principal, api_key: str, client: TestClient
) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    cid = client.post(
        "/campaigns",
        headers=h,
        json={
            "name": "x",
            "audience": {"kind": "static", "lead_ids": []},
            "variants": [{"subject": "s", "content": BODY}],
        },
    ).json()["id"]
    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outra", name="Outra")
        _, other_key = tenancy.create_key(session, tenant_id=other.id, name="k", scopes=["*"])
        _, reader = tenancy.create_key(
            session, tenant_id=principal.tenant_id, name="r", scopes=["campaigns:read"]
        )
    assert (
        client.get(
            f"/campaigns/{cid}", headers={"Authorization": f"Bearer {other_key}"}
        ).status_code
        == 404
    )
    r = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"/campaigns/{cid}", headers=r).status_code == 200
    assert client.post(f"/campaigns/{cid}/cancel", headers=r).status_code == 403
    bad = client.post("/campaigns", headers=h, json={"name": "x", "variants": []})
    assert bad.status_code == 422 and "variants" in bad.json()["field"]

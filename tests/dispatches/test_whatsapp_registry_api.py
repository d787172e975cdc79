"""Changing what was registered through the API: a number (secrets write-only), a manual pause
and resume, a template replaced and removed; bad input names the field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carteiro.runtime import Runtime
from carteiro.whatsapp.models import WhatsAppNumber


def test_a_number_is_changed_paused_and_resumed(
    client: TestClient, runtime: Runtime, number_id: int
) -> None:
    with runtime.db.session() as session:
        before = session.get_one(WhatsAppNumber, number_id).token_enc
    changed = client.patch(f"/whatsapp/numbers/{number_id}", json={"rate_per_second": 25})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["rate_per_second"] == 25 and body["current_rate_per_second"] == 25
    assert "token" not in body and "app_secret" not in body
    with runtime.db.session() as session:
        assert session.get_one(WhatsAppNumber, number_id).token_enc == before
    rotated = client.patch(f"/whatsapp/numbers/{number_id}", json={"token": "new-token"})
    assert rotated.status_code == 200
    with runtime.db.session() as session:
        row = session.get_one(WhatsAppNumber, number_id)
        assert runtime.vault.decrypt(row.token_enc) == "new-token"
    bad = client.patch(f"/whatsapp/numbers/{number_id}", json={"rate_per_second": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "rate_per_second"
    assert client.post(f"/whatsapp/numbers/{number_id}/pause", json={}).status_code == 422
    paused = client.post(f"/whatsapp/numbers/{number_id}/pause", json={"reason": "troca"})
    assert paused.json()["status"] == "paused" and paused.json()["paused_reason"] == "troca"
    resumed = client.post(f"/whatsapp/numbers/{number_id}/resume")
    assert resumed.json()["status"] == "active"
    assert client.patch("/whatsapp/numbers/999999", json={}).status_code == 404


def test_a_template_is_replaced_and_removed(client: TestClient, number_id: int) -> None:
    (t,) = client.get("/whatsapp/templates").json()
    new = {"name": t["name"], "params": [{"name": "nome"}], "body": "Oi {{nome}}"}
    replaced = client.put(f"/whatsapp/templates/{t['id']}", json=new)
    assert replaced.status_code == 200, replaced.text
    assert [p["name"] for p in replaced.json()["params"]] == ["nome"]
    bad = client.put(f"/whatsapp/templates/{t['id']}", json={**new, "name": "Com Espaço"})
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    assert client.delete(f"/whatsapp/templates/{t['id']}").status_code == 204
    assert client.get("/whatsapp/templates").json() == []
    assert client.delete(f"/whatsapp/templates/{t['id']}").status_code == 404

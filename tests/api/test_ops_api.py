"""Queue statistics, the dead-letter queue over the API, keys, health, metrics and docs."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from carteiro import wiring
from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime

MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}


def test_queue_stats_and_dead_letter_requeue(client: TestClient, runtime: Runtime) -> None:
    ids = [client.post("/emails", json=MSG).json()["id"] for _ in range(3)]
    with runtime.db.session() as session:
        for email_id, kind in zip(ids[:2], ["smtp_4xx", "connection"], strict=True):
            email = session.get(Email, email_id)
            assert email is not None
            email.status, email.error_type = "dead", kind
    stats = client.get("/queue/stats").json()
    assert stats["counts"]["dead"] == 2 and stats["counts"]["pending"] == 1
    assert stats["oldest_pending_age_seconds"] >= 0 and stats["sent_last_hour"] == 0
    dead = client.get("/queue/dead").json()
    assert dead["total"] == 2 and {i["id"] for i in dead["items"]} == set(ids[:2])
    r = client.post("/queue/dead/requeue", json={"error_type": "smtp_4xx"})
    assert r.json() == {"requeued": 1, "ids": [ids[0]]}
    r = client.post("/queue/dead/requeue", json={"ids": [ids[1], ids[2]]})
    assert r.json() == {"requeued": 1, "ids": [ids[1]]}  # ids[2] was not dead
    assert client.post("/queue/dead/requeue", json={}).status_code == 422
    assert client.get("/queue/stats").json()["counts"]["pending"] == 3


def test_keys_api_creates_scoped_agent_keys(client: TestClient) -> None:
    r = client.post(
        "/keys",
        json={
            "name": "agente",
            "scopes": ["emails:send"],
            "allowed_recipients": ["*@example.com"],
            "review_mode": True,
        },
    )
    assert r.status_code == 201 and r.json()["key"].startswith("ct_")
    agent = {"Authorization": f"Bearer {r.json()['key']}"}
    sent = client.post("/emails", json=MSG, headers=agent)
    assert sent.status_code == 201 and sent.json()["status"] == "held"
    assert client.get("/keys", headers=agent).status_code == 403
    keys = client.get("/keys").json()
    assert {k["name"] for k in keys} == {"first key", "agente"}
    assert all("key" not in k for k in keys)
    assert client.post("/keys", json={"name": "x", "scopes": ["nope"]}).status_code == 422
    revoked = client.delete(f"/keys/{r.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.post("/emails", json=MSG, headers=agent).status_code == 401


def test_health_metrics_and_docs(runtime: Runtime, api_key: str) -> None:
    with TestClient(create_app(runtime, run_worker=True)) as c:
        h = {"Authorization": f"Bearer {api_key}"}
        eid = c.post("/emails", json=MSG, headers=h).json()["id"]
        for _ in range(200):
            if c.get(f"/emails/{eid}", headers=h).json()["status"] == "sent":
                break
            time.sleep(0.05)
        health = c.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["worker"]["embedded"] is True
        assert body["checks"]["accounts"] == {
            "status": "ok",
            "by_status": {},
            "cooling_down": 0,
            "dns": {},
        }
        metrics = c.get("/metrics").text
        for name in (
            "emails_sent_total",
            "emails_failed_total",
            "email_send_duration_seconds",
            "emails_pending",
        ):
            assert name in metrics
        assert 'emails_sent_total{account="capture"}' in metrics
        assert c.get("/openapi.json").json()["paths"]["/emails"]["post"]
        assert c.get("/docs").status_code == 200


def test_health_is_503_when_the_database_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        _env_file=None,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        data_dir=tmp_path,
        secret_key="x",
    )
    runtime = wiring.runtime(settings)
    with TestClient(create_app(runtime, run_worker=False)) as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["checks"]["database"]["status"] == "error"
        r = c.get("/emails", headers={"Authorization": "Bearer ct_x"})
        assert r.status_code == 503 and r.headers["retry-after"]

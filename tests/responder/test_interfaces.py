"""Turning AI replies on over REST, the monitoring endpoints, requeue by id and by error type."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from carteiro.api.app import create_app
from carteiro.cli.main import app as cli_app
from carteiro.config import get_settings
from carteiro.db.types import utcnow
from carteiro.inbound.schemas import SyncReport
from carteiro.responder.models import ResponderJob
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.testing.dovecot import Dovecot
from conftest import jobs_of, mail


@pytest.fixture
def api(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_worker=False)) as client:
        client.headers["Authorization"] = f"Bearer {api_key}"
        yield client


@pytest.fixture
def four_jobs(
    api: TestClient, runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport]
) -> list[int]:
    """An AI rule made over REST and four jobs: completed, dead (timeout), failed (refusal),
    dead (timeout)."""
    made = api.post(
        "/inbox/rules",
        json={"name": "IA", "responder": "ai", "prompt": "Seja breve.", "reply_mode": "review"},
    )
    assert made.status_code == 201, made.text
    assert (made.json()["responder"], made.json()["reply_mode"]) == ("ai", "review")
    for i in range(4):
        dovecot.append("INBOX", mail(subject=f"Pedido {i}", sender=f"c{i}@cliente.com.br"))
    sync()
    ids = [j.id for j in jobs_of(runtime)]
    assert len(ids) == 4
    now = utcnow()
    states: list[dict[str, Any]] = [
        {"status": "completed", "processing_time_ms": 500, "completed_at": now},
        {"status": "dead_letter", "error_type": "timeout", "attempt_count": 3, "completed_at": now},
        {"status": "failed", "error_type": "refusal", "attempt_count": 1, "completed_at": now},
        {
            "status": "dead_letter",
            "error_type": "timeout",
            "attempt_count": 3,
            "completed_at": now - timedelta(hours=2),
        },
    ]
    with runtime.db.session() as session:
        for job_id, values in zip(ids, states, strict=True):
            session.execute(update(ResponderJob).where(ResponderJob.id == job_id).values(**values))
    return ids


def test_rules_refuse_an_unknown_responder_and_need_a_body_for_templates(api: TestClient) -> None:
    bad = api.post("/inbox/rules", json={"name": "x", "responder": "gpt"})
    assert bad.status_code == 422 and "responder" in bad.text
    empty = api.post("/inbox/rules", json={"name": "x"})
    assert empty.status_code == 422 and "body" in empty.text
    mode = api.post("/inbox/rules", json={"name": "x", "responder": "ai", "reply_mode": "auto"})
    assert mode.status_code == 422 and "reply_mode" in mode.text


def test_stats_count_statuses_hours_errors_and_percentiles(
    api: TestClient, four_jobs: list[int]
) -> None:
    got = api.get("/responder/stats")
    assert got.status_code == 200, got.text
    body = got.json()
    counts = {s["status"]: s["count"] for s in body["statuses"]}
    assert counts == {"pending": 0, "processing": 0, "completed": 1, "failed": 1, "dead_letter": 2}
    completed = next(s for s in body["statuses"] if s["status"] == "completed")
    assert completed["avg_processing_time_ms"] == 500
    assert {e["error_type"]: e["count"] for e in body["errors"]} == {"timeout": 2, "refusal": 1}
    assert sum(h["processed"] for h in body["per_hour"]) == 4
    assert sum(h["completed"] for h in body["per_hour"]) == 1
    assert body["processing_time"] == {"count": 1, "p50_ms": 500, "p95_ms": 500, "p99_ms": 500}


def test_jobs_list_filters_and_requeue(api: TestClient, four_jobs: list[int]) -> None:
    dead = api.get("/responder/jobs", params={"status": "dead_letter"}).json()
    assert dead["total"] == 2 and {j["error_type"] for j in dead["items"]} == {"timeout"}
    assert api.get("/responder/jobs", params={"status": "lost"}).status_code == 422
    assert api.get("/responder/jobs", params={"error_type": "nope"}).status_code == 422
    # A completed job is not requeued; another tenant's job does not exist.
    conflict = api.post(f"/responder/jobs/{four_jobs[0]}/requeue")
    assert conflict.status_code == 409 and "only failed and dead_letter" in conflict.text
    assert api.post("/responder/jobs/999999/requeue").status_code == 404
    one = api.post(f"/responder/jobs/{four_jobs[2]}/requeue")
    assert one.status_code == 200, one.text
    assert (one.json()["status"], one.json()["attempt_count"]) == ("pending", 0)
    bulk = api.post("/responder/requeue", params={"error_type": "timeout"})
    assert bulk.json() == {"requeued": 2, "ids": [four_jobs[1], four_jobs[3]]}
    assert api.post("/responder/requeue", params={"error_type": "timeout"}).json()["requeued"] == 0
    assert api.post("/responder/requeue", params={"error_type": "x"}).status_code == 422
    pending = api.get("/responder/jobs", params={"status": "pending"}).json()
    assert pending["total"] == 3


def test_another_tenant_sees_nothing(
    api: TestClient, runtime: Runtime, four_jobs: list[int]
) -> None:
    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outra")
        _, plain = tenancy.create_key(session, tenant_id=other.id, name="k")
    headers = {"Authorization": f"Bearer {plain}"}
    assert api.get("/responder/jobs", headers=headers).json()["total"] == 0
    assert api.get(f"/responder/jobs/{four_jobs[1]}", headers=headers).status_code == 404
    assert api.post(f"/responder/jobs/{four_jobs[1]}/requeue", headers=headers).status_code == 404


def test_the_cli_shows_stats_and_requeues_by_error_type(
    runtime: Runtime, four_jobs: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = runtime.settings
    env = {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "COLUMNS": "200",
    }

    def run(*args: str) -> tuple[int, str]:
        get_settings.cache_clear()
        result = CliRunner().invoke(cli_app, ["responder", *args], env=env)
        get_settings.cache_clear()
        return result.exit_code, result.output

    code, out = run("stats")
    assert code == 0 and "dead_letter" in out and "error timeout: 2" in out
    assert "p50 500 ms" in out
    code, out = run("jobs", "--status", "dead_letter")
    assert code == 0 and "2 of 2 jobs" in out
    code, out = run("requeue")
    assert code != 0 and "give a job id or --error-type" in out
    code, out = run("requeue", "--error-type", "timeout")
    assert code == 0 and f"requeued 2 job(s): {four_jobs[1]}, {four_jobs[3]}" in out
    code, out = run("requeue", str(four_jobs[0]))
    assert code != 0 and "only failed and dead_letter" in out

"""The seed's metrics on /metrics and its JSON log lines."""

from __future__ import annotations

import json
import logging

from dispatchkit import Lead, seed_body
from fastapi.testclient import TestClient

from carteiro.dispatches.worker import DispatchWorker
from carteiro.logjson import JsonFormatter


async def test_metrics_after_a_dispatch(
    client: TestClient, lead: Lead, worker: DispatchWorker
) -> None:
    client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    await worker.once()
    text = client.get("/metrics").text
    assert 'disparos_sent_total{canal="whatsapp",tenant="1"}' in text
    assert "disparos_failed_rate" in text
    assert "ingest_jobs_completed_total" in text and "leads_created_total" in text


def test_json_log_lines_carry_the_seed_fields() -> None:
    record = logging.LogRecord(
        "carteiro.dispatches", logging.INFO, "x", 1, "dispatch %d: %s", (7, "sent"), None
    )
    for key, value in {
        "tenantId": 1,
        "leadId": 9,
        "action": "disparo.whatsapp",
        "result": "sent",
        "duration": 0.02,
        "error": None,
    }.items():
        setattr(record, key, value)
    line = json.loads(JsonFormatter().format(record))
    assert {
        "timestamp",
        "level",
        "service",
        "tenantId",
        "leadId",
        "action",
        "result",
        "duration",
        "error",
    } <= set(line)
    assert (line["service"], line["tenantId"], line["result"]) == ("carteiro", 1, "sent")

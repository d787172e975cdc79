"""A `carteiro worker` killed with SIGKILL while WhatsApp dispatches are due and in flight:
another worker finishes them. None is lost; none is sent twice beyond the ones that were in
flight (the status webhooks of those settle them instead of a resend)."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import httpx
import pytest
from e2ekit import Process, child_env, free_port, private_database, wait_until

from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_whatsapp import FakeCloudApi

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
N = 120
PHONE_NUMBER_ID = "5500000001"


def _csv() -> bytes:
    rows = ["id;nome;celular"] + [f"L{i};Cliente {i};+55119{i:08d}" for i in range(N)]
    return ("\n".join(rows) + "\n").encode()


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def test_killed_worker_loses_nothing(tmp_path: Path) -> None:
    fake = FakeCloudApi(app_secret="s3cret")
    fake.add_number(PHONE_NUMBER_ID, "tok")
    fake.add_template("aviso", 1)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with serve_in_thread(fake.app) as graph, private_database(tmp_path) as database_url:
        env = child_env(database_url, tmp_path / "data")
        env.update(
            {
                "CARTEIRO_DISPATCH_POLL_INTERVAL": "0.1",
                "CARTEIRO_DISPATCH_LEASE_SECONDS": "3",
                "CARTEIRO_WHATSAPP_AMBIGUOUS_WAIT_SECONDS": "4",
            }
        )
        port = free_port()
        serve = Process(["serve", "--no-worker", "--port", str(port)], env=env, cwd=cwd)
        worker = second = None
        try:
            key = serve.wait_for_line("API key: ").removeprefix("API key: ")
            serve.wait_for_line("Carteiro listening on ")
            http = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            wait_until(lambda: _healthy(http), 30, "serve to answer /health")
            worker = Process(["worker"], env=env, cwd=cwd)
            number = http.post(
                "/whatsapp/numbers",
                json={
                    "name": "cobranca",
                    "phone_number_id": PHONE_NUMBER_ID,
                    "token": "tok",
                    "app_secret": "s3cret",
                    "verify_token": "v",
                    "base_url": graph,
                    "rate_per_second": 15,
                    "pair_interval_seconds": 0,
                },
            )
            assert number.status_code == 201, number.text
            number_id = number.json()["id"]
            template = {"name": "aviso", "params": [{"name": "nome"}]}
            assert http.post("/whatsapp/templates", json=template).status_code == 201
            job = http.post(
                "/ingest/leads/xlsx", files={"file": ("leads.csv", _csv(), "text/csv")}
            ).json()["job_id"]
            wait_until(
                lambda: http.get(f"/ingest/leads/jobs/{job}").json()["status"] == "concluido",
                60,
                "the import",
            )
            leads = http.get("/leads", params={"limit": 500}).json()["items"]
            assert len(leads) == N
            for lead in leads:
                r = http.post(
                    f"/leads/{lead['lead_id']}/disparos",
                    json={
                        "canal": "whatsapp",
                        "template": "aviso",
                        "payload": {"variaveis": {"nome": lead["nome"]}},
                        "agendar_para": "",
                    },
                )
                assert r.status_code == 201, r.text
            wait_until(lambda: len(fake.outbox) >= N // 4, 60, "a quarter to be sent")
            worker.proc.kill()  # SIGKILL: no shutdown, leases left behind, sends in flight
            worker.proc.wait(timeout=10)
            sent_before = len(fake.outbox)
            assert sent_before < N, "the worker finished before it was killed"
            second = Process(["worker"], env=env, cwd=cwd)

            delivered: set[str] = set()

            def all_settled() -> bool:
                # Meta's status webhooks for whatever reached it, signed, as they come.
                fresh = [s for s in list(fake.outbox) if s.message_id not in delivered]
                if fresh:
                    raw = fake.statuses_webhook(
                        [fake.status(s, "delivered") for s in fresh], PHONE_NUMBER_ID
                    )
                    r = httpx.post(
                        f"http://127.0.0.1:{port}/webhooks/whatsapp/cloud/{number_id}",
                        content=raw,
                        headers={"X-Hub-Signature-256": fake.signature(raw)},
                    )
                    assert r.status_code == 200, r.text
                    delivered.update(s.message_id for s in fresh)
                page = http.get("/disparos", params={"status": "confirmado", "limit": 1})
                return page.json()["total"] == N

            wait_until(all_settled, 120, "every dispatch to be confirmed")
            per_dispatch = collections.Counter(s.correlation for s in fake.outbox)
            duplicates = sum(c - 1 for c in per_dispatch.values())
            assert len(per_dispatch) == N  # none lost
            # Only what was in flight at the kill can have gone twice.
            assert duplicates <= 3 * 15 // 2
            assert http.get("/disparos", params={"status": "erro"}).json()["total"] == 0
            time.sleep(0.1)
        finally:
            for p in (second, worker, serve):
                if p is not None:
                    p.close()

"""Server time of the console's leads pages with many leads: p50/p95 of GET /ui/leads (with each
filter) and of a lead's page.

    .venv/bin/python bench/leads_pages.py                   # 165,000 leads, SQLite and PostgreSQL
    .venv/bin/python bench/leads_pages.py --leads 20000 --sqlite-only

Seeds a throwaway database with `--leads` leads (each with an e-mail, two in three with a phone,
one in ten opted out, five statuses, a tag on one in four), logs in an admin and times the
pages in-process (TestClient: no network, so this is the server's time). The goal (issue 12)
is p95 < 150 ms for list pages. No peer: no product we compare with ships these pages.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import BENCH, PG_ADMIN_URL, percentile
from fastapi.testclient import TestClient
from sqlalchemy import insert

from carteiro import wiring
from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.db.base import table_of
from carteiro.leads.models import LEAD_STATUSES, Lead, LeadEmail, LeadTelefone
from carteiro.runtime import Runtime
from carteiro.tenancy import people

PASSWORD = "bench-password-1"
CHUNK = 5000
CITIES = ("Campinas", "Recife", "Curitiba", "Manaus", "Salvador", "Goiânia", "Belém")


def seed(runtime: Runtime, n: int) -> None:
    key = runtime.bootstrap()
    assert key is not None
    tid = runtime.authenticate(key).tenant_id
    with runtime.db.session() as session:
        people.create(
            session,
            tenant_id=tid,
            email="admin@example.com",
            name="Admin",
            password=PASSWORD,
            role="admin",
        )
    now = datetime.now(UTC)
    leads, emails, phones = table_of(Lead), table_of(LeadEmail), table_of(LeadTelefone)
    for start in range(1, n + 1, CHUNK):
        rows, mails, tels = [], [], []
        for i in range(start, min(n, start + CHUNK - 1) + 1):
            at = now - timedelta(seconds=n - i)
            rows.append(
                {
                    "lead_id": i,
                    "tenant_id": tid,
                    "lead_id_externo": f"ext-{i}",
                    "origem_arquivo": "base.xlsx",
                    "nome": f"Empresa {CITIES[i % len(CITIES)]} {i:06d} Ltda",
                    "contato_nome": f"Pessoa {i}",
                    "documento": f"{i:014d}",
                    "documento_tipo": "cnpj",
                    "documento_valido": True,
                    "status": LEAD_STATUSES[i % len(LEAD_STATUSES)],
                    "tags": ["vip"] if i % 4 == 0 else [],
                    "data_ingestao": at,
                    "updated_at": at,
                }
            )
            mails.append(
                {
                    "email_id": i,
                    "lead_id": i,
                    "tenant_id": tid,
                    "email": f"contato{i}@empresa{i % 997}.com.br",
                    "email_principal": True,
                    "valido_para_disparo": True,
                    "consentimento": "opt_out" if i % 10 == 0 else "unknown",
                    "created_at": at,
                }
            )
            if i % 3:
                tels.append(
                    {
                        "telefone_id": i,
                        "lead_id": i,
                        "tenant_id": tid,
                        "telefone": f"+55119{i:08d}",
                        "telefone_principal": True,
                        "tipo": "mobile",
                        "valido_para_disparo": True,
                        "created_at": at,
                    }
                )
        with runtime.db.session() as session:
            session.execute(insert(leads), rows)
            session.execute(insert(emails), mails)
            session.execute(insert(phones), tels)


PAGES = (
    ("list", "/ui/leads"),
    ("list_page_100", "/ui/leads?offset=5000"),
    ("search_name", "/ui/leads?q=Pessoa+12345"),
    ("search_email", "/ui/leads?q=contato777%40"),
    ("search_phone", "/ui/leads?q=11900054321"),
    ("company", "/ui/leads?company=Recife"),
    ("status", "/ui/leads?status=qualificado"),
    ("consent_opt_out", "/ui/leads?consent=opt_out"),
    ("tag", "/ui/leads?tag=vip"),
    ("lead", "/ui/leads/{mid}"),
)


def measure(runtime: Runtime, n: int, rounds: int) -> dict[str, dict[str, float | None]]:
    app = create_app(runtime, run_worker=False)
    found: dict[str, dict[str, float | None]] = {}
    with TestClient(app) as client:
        client.get("/ui/login")
        client.post(
            "/ui/login",
            data={
                "email": "admin@example.com",
                "password": PASSWORD,
                "csrf_token": client.cookies["carteiro_csrf"],
            },
        )
        for name, template in PAGES:
            url = template.format(mid=n // 2)
            client.get(url)  # warm up
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            found[name] = {
                "p50_ms": percentile(times, 0.5),
                "p95_ms": percentile(times, 0.95),
                "bytes": len(response.content),
            }
            print(name, json.dumps(found[name]), flush=True)
    return found


def run(url: str, data_dir: Path, n: int, rounds: int) -> dict[str, object]:
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=data_dir,
        secret_key="bench",
        api_key=None,
        gmail_email=None,
        gmail_app_password=None,
    )
    runtime = wiring.runtime(settings)
    try:
        runtime.migrate()
        t0 = time.perf_counter()
        seed(runtime, n)
        seeded = time.perf_counter() - t0
        return {"seed_s": round(seeded, 1), "pages": measure(runtime, n, rounds)}
    finally:
        runtime.db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=165_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"leads": args.leads}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(
            f"sqlite:///{tmp}/bench.db", Path(tmp) / "data", args.leads, args.rounds
        )
        if not args.sqlite_only:
            import psycopg

            name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
                results["postgresql"] = run(url, Path(tmp) / "pgdata", args.leads, args.rounds)
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "leads_pages.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

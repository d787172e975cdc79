"""Server time of the console's dashboard with a large outbox: p50/p95 of GET /ui/.

    .venv/bin/python bench/dashboard.py                    # 100,000 e-mails, SQLite and PostgreSQL
    .venv/bin/python bench/dashboard.py --emails 20000 --sqlite-only

Seeds a throwaway database with `--emails` messages over the last 24 hours (each with a queued
and a sent event, one in 20 failed, one in 50 bounced) across 5 accounts, logs in an admin and
an operator granted one account, and times the dashboard in-process (TestClient: no network,
so this is the server's time). The goal (issue 12) is p95 < 300 ms. No peer: no product we
compare with ships this page.
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
from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate, Limits, SmtpIn
from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.db.base import table_of
from carteiro.outbound.models import Email, EmailEvent
from carteiro.runtime import Runtime
from carteiro.tenancy import access, people

PASSWORD = "bench-password-1"
CHUNK = 5000


def seed(runtime: Runtime, n: int) -> None:
    key = runtime.bootstrap()
    assert key is not None
    tid = runtime.authenticate(key).tenant_id
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        ids = [
            accounts.create(
                session,
                tenant_id=tid,
                data=AccountCreate(
                    name=f"conta{i}",
                    email=f"conta{i}@example.com",
                    smtp=SmtpIn(host="127.0.0.1", port=2525, security="none"),
                    limits=Limits(per_minute=60, per_hour=1000, per_day=10000),
                ),
                vault=runtime.vault,
            ).id
            for i in range(5)
        ]
        people.create(
            session,
            tenant_id=tid,
            email="admin@example.com",
            name="Admin",
            password=PASSWORD,
            role="admin",
        )
        op = people.create(
            session,
            tenant_id=tid,
            email="op@example.com",
            name="Op",
            password=PASSWORD,
            role="operator",
        )
        access.grant(session, user_id=op.id, account_id=ids[0])
    emails, events = table_of(Email), table_of(EmailEvent)
    next_id = 1
    for start in range(0, n, CHUNK):
        rows, evs = [], []
        for i in range(start, min(n, start + CHUNK)):
            at = now - timedelta(seconds=(i * 86_000) // n)
            status = "failed" if i % 20 == 0 else "sent"
            rows.append(
                {
                    "id": next_id,
                    "tenant_id": tid,
                    "account_id": ids[i % 5],
                    "account_pinned": False,
                    "source": "api",
                    "lane": 0,
                    "status": status,
                    "priority": 2,
                    "from_email": "conta@example.com",
                    "to_email": f"c{i}@example.org",
                    "to_emails": [f"c{i}@example.org"],
                    "cc_emails": [],
                    "bcc_emails": [],
                    "subject": "Relatório",
                    "body": "corpo",
                    "message_id": f"<{i}@bench>",
                    "raw": b"x",
                    "size": 1,
                    "run_at": at,
                    "sent_at": at if status == "sent" else None,
                    "attempts": 1,
                    "retry_count": 0,
                    "max_retries": 3,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            evs.append({"tenant_id": tid, "email_id": next_id, "type": "queued", "created_at": at})
            evs.append({"tenant_id": tid, "email_id": next_id, "type": status, "created_at": at})
            if i % 50 == 0:
                evs.append(
                    {"tenant_id": tid, "email_id": next_id, "type": "bounce_hard", "created_at": at}
                )
            next_id += 1
        with runtime.db.session() as session:
            session.execute(insert(emails), rows)
            session.execute(insert(events), evs)


def measure(runtime: Runtime, email: str, rounds: int) -> dict[str, float | None]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app) as client:
        client.get("/ui/login")
        client.post(
            "/ui/login",
            data={
                "email": email,
                "password": PASSWORD,
                "csrf_token": client.cookies["carteiro_csrf"],
            },
        )
        client.get("/ui/")  # warm up
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            response = client.get("/ui/")
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        size = len(response.content)
    return {"p50_ms": percentile(times, 0.5), "p95_ms": percentile(times, 0.95), "bytes": size}


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
        return {
            "seed_s": round(seeded, 1),
            "admin": measure(runtime, "admin@example.com", rounds),
            "operator_one_account": measure(runtime, "op@example.com", rounds),
        }
    finally:
        runtime.db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"emails": args.emails}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(
            f"sqlite:///{tmp}/bench.db", Path(tmp) / "data", args.emails, args.rounds
        )
        print(json.dumps(results["sqlite"]), flush=True)
        if not args.sqlite_only:
            import psycopg

            name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
                results["postgresql"] = run(url, Path(tmp) / "pgdata", args.emails, args.rounds)
                print(json.dumps(results["postgresql"]), flush=True)
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

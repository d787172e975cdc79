"""Reminder lateness benchmark: 10,000 appointments with two reminders each, due within a short
window, fired by real `carteiro worker` processes, on SQLite and PostgreSQL.

Run from the repository root:

    .venv/bin/python bench/appointments.py                       # SQLite x1, PostgreSQL x2
    .venv/bin/python bench/appointments.py --appointments 2000 --window 30
    .venv/bin/python bench/appointments.py --backend postgresql --workers 1 --workers 2

For each backend: a fresh database (PostgreSQL: a scratch database on CARTEIRO_BENCH_PG_URL,
default postgresql://postgres@127.0.0.1:5432/postgres, created and dropped), N leads with an
e-mail and N appointments written in bulk, each with reminders 2 and 1 minutes before its start;
the starts are spread evenly so the first reminders fall due over `--window` seconds, starting
`--lead-in` seconds after the workers start, and the second ones a minute later. Then the
workers (`carteiro worker`, default settings but the poll interval) fire them: each reminder
is re-validated and queued as an e-mail (the capture transport sends them, in the same
processes). Lateness is the reminder's `fired_at - due_at`; the goal is p99 < 2 s.

The peer, run right after on a fresh copy of the same rows: a bare loop in this process that
only reads due rows every poll interval and marks them fired (no validation, no e-mail): the
floor that polling alone gives. Results are also saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from carteiro import wiring
from carteiro.appointments.models import Agendamento, Lembrete
from carteiro.config import Settings
from carteiro.db.engine import Database
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound.models import Email

PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).resolve().parent / "results"
SCRIPT = Path(sys.executable).with_name("carteiro")
GOAL_P99 = 2.0
OFFSETS = (2, 1)  # minutes before the start: both reminders fall inside the run


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    import psycopg

    name = f"carteiro_bench_appt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, data_dir: Path, *, count: int, first_due: datetime, window: float) -> int:
    """Migrates, creates the tenant, and writes `count` leads and appointments in bulk."""
    runtime = wiring.runtime(
        Settings(_env_file=None, database_url=url, data_dir=data_dir, secret_key="bench")
    )
    runtime.migrate()
    runtime.bootstrap()
    db = runtime.db
    now = datetime.now(UTC)
    step = window / max(1, count - 1)
    with db.session() as session:
        tenant_id = 1
        session.execute(
            insert(Lead),
            [
                {
                    "tenant_id": tenant_id,
                    "lead_id_externo": f"b{i}",
                    "nome": f"Lead {i}",
                    "contato_nome": f"Pessoa {i}",
                    "tags": [],
                    "status": "novo",
                    "data_ingestao": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        ids = list(session.scalars(select(Lead.lead_id).order_by(Lead.lead_id)))
        session.execute(
            insert(LeadEmail),
            [
                {
                    "lead_id": lead_id,
                    "tenant_id": tenant_id,
                    "email": f"lead{i}@example.com",
                    "email_principal": True,
                    "valido_para_disparo": True,
                    "consentimento": "unknown",
                    "created_at": now,
                }
                for i, lead_id in enumerate(ids)
            ],
        )
        starts = [first_due + timedelta(seconds=i * step, minutes=OFFSETS[0]) for i in range(count)]
        session.execute(
            insert(Agendamento),
            [
                {
                    "tenant_id": tenant_id,
                    "lead_id": lead_id,
                    "tipo": "reuniao",
                    "canal": "video",
                    "data_agendada": start,
                    "duracao_minutos": 30,
                    "timezone": "America/Sao_Paulo",
                    "status": "pendente",
                    "lembretes_minutos": list(OFFSETS),
                    "enviar_convite": False,
                    "ics_uid": f"agendamento-b{i}@carteiro",
                    "ics_sequence": 0,
                    "video_url": f"https://meet.jit.si/carteiro-b{i}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, (lead_id, start) in enumerate(zip(ids, starts, strict=True))
            ],
        )
        ags = list(
            session.execute(
                select(Agendamento.agendamento_id, Agendamento.data_agendada).order_by(
                    Agendamento.agendamento_id
                )
            )
        )
        session.execute(
            insert(Lembrete),
            [
                {
                    "tenant_id": tenant_id,
                    "agendamento_id": ag_id,
                    "offset_minutos": offset,
                    "channel": "email",
                    "alvo": start,
                    "due_at": start - timedelta(minutes=offset),
                    "status": "agendado",
                    "tentativas": 0,
                    "created_at": now,
                }
                for ag_id, start in ags
                for offset in OFFSETS
            ],
        )
    db.dispose()
    return count * len(OFFSETS)


def child_env(url: str, data_dir: Path, poll: float) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_", "GMAIL_"))
    }
    env.update(
        {
            "CARTEIRO_DATABASE_URL": url,
            "CARTEIRO_DATA_DIR": str(data_dir),
            "CARTEIRO_SECRET_KEY": "bench",
            "CARTEIRO_APPOINTMENT_POLL_INTERVAL": str(poll),
            "EMAIL_RATE_LIMIT_PER_HOUR": "0",
            "CARTEIRO_LOG_LEVEL": "WARNING",
        }
    )
    return env


def outcome(db: Database) -> dict[str, Any]:
    with db.session() as session:
        rows = session.execute(
            select(Lembrete.status, Lembrete.due_at, Lembrete.fired_at, Lembrete.motivo)
        ).all()
        mails = int(
            session.scalar(
                select(func.count()).select_from(Email).where(Email.source == "appointment")
            )
            or 0
        )
    late = [(r.fired_at - r.due_at).total_seconds() for r in rows if r.fired_at is not None]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {"statuses": statuses, "lateness": late, "emails": mails}


def remaining(db: Database) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(Lembrete).where(Lembrete.status == "agendado")
        return int(session.scalar(stmt) or 0)


def run_workers(
    backend: str, *, workers: int, count: int, window: float, lead_in: float, poll: float
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-appt-"))
    with database(backend, folder) as url:
        data_dir = folder / "data"
        # The first reminder falls due `lead_in` seconds after seeding and starting the workers.
        first_due = datetime.now(UTC) + timedelta(seconds=lead_in + count / 2000)
        total = seed(url, data_dir, count=count, first_due=first_due, window=window)
        env = child_env(url, data_dir, poll)
        procs = [
            subprocess.Popen(
                [str(SCRIPT), "worker"],
                env=env,
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=(folder / f"worker{i}.log").open("wb"),
            )
            for i in range(workers)
        ]
        db = Database(url)
        try:
            deadline = first_due + timedelta(seconds=window + 60 * OFFSETS[0] + 120)
            while remaining(db) and datetime.now(UTC) < deadline:
                time.sleep(0.5)
            result = outcome(db)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            db.dispose()
    return summary(f"carteiro {backend} x{workers}", total, result, window)


def run_bare(backend: str, *, count: int, window: float, lead_in: float, poll: float) -> dict:
    """The peer: poll due rows, mark them fired; no validation, no e-mail."""
    folder = Path(tempfile.mkdtemp(prefix="bench-appt-bare-"))
    with database(backend, folder) as url:
        first_due = datetime.now(UTC) + timedelta(seconds=lead_in + count / 2000)
        total = seed(url, folder / "data", count=count, first_due=first_due, window=window)
        db = Database(url)
        try:
            deadline = first_due + timedelta(seconds=window + 60 * OFFSETS[0] + 120)
            while datetime.now(UTC) < deadline:
                now = datetime.now(UTC)
                with db.session() as session:
                    due = list(
                        session.scalars(
                            select(Lembrete.id).where(
                                Lembrete.status == "agendado", Lembrete.due_at <= now
                            )
                        )
                    )
                    if due:
                        session.execute(
                            update(Lembrete)
                            .where(Lembrete.id.in_(due))
                            .values(status="enviado", fired_at=datetime.now(UTC)),
                            execution_options={"synchronize_session": False},
                        )
                if not remaining(db):
                    break
                time.sleep(poll)
            result = outcome(db)
        finally:
            db.dispose()
    return summary(f"bare loop {backend}", total, result, window)


def summary(name: str, total: int, result: dict[str, Any], window: float) -> dict[str, Any]:
    late = result["lateness"]
    return {
        "name": name,
        "reminders": total,
        "fired": len(late),
        "statuses": result["statuses"],
        "emails": result["emails"],
        "p50": percentile(late, 0.50),
        "p99": percentile(late, 0.99),
        "max": max(late, default=None),
        "window_s": window,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds the first reminders span"
    )
    parser.add_argument(
        "--lead-in", type=float, default=10.0, help="seconds before the first is due"
    )
    parser.add_argument("--poll", type=float, default=1.0, help="the workers' poll interval (s)")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, action="append", help="PostgreSQL worker counts")
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    rows: list[dict[str, Any]] = []
    for backend in backends:
        counts = [1] if backend == "sqlite" else (args.workers or [2])
        for workers in counts:
            print(f"running carteiro {backend} x{workers} …", flush=True)
            rows.append(
                run_workers(
                    backend,
                    workers=workers,
                    count=args.appointments,
                    window=args.window,
                    lead_in=args.lead_in,
                    poll=args.poll,
                )
            )
        if not args.skip_peer:
            print(f"running the bare loop on {backend} …", flush=True)
            rows.append(
                run_bare(
                    backend,
                    count=args.appointments,
                    window=args.window,
                    lead_in=args.lead_in,
                    poll=args.poll,
                )
            )
    print()
    print(f"{'contender':28} {'reminders':>9} {'fired':>7} {'emails':>7} {'p50 s':>7} "
          f"{'p99 s':>7} {'max s':>7}  statuses")  # fmt: skip
    for r in rows:
        print(
            f"{r['name']:28} {r['reminders']:>9} {r['fired']:>7} {r['emails']:>7} "
            f"{_fmt(r['p50']):>7} {_fmt(r['p99']):>7} {_fmt(r['max']):>7}  {r['statuses']}"
        )
    print()
    for backend in backends:
        peer = next((r for r in rows if r["name"] == f"bare loop {backend}"), None)
        for r in rows:
            if not r["name"].startswith(f"carteiro {backend}") or r["p99"] is None:
                continue
            verdict = "PASS" if r["p99"] < GOAL_P99 else "MISS"
            ratio = ""
            if peer and peer["p99"]:
                ratio = f", {r['p99'] / peer['p99']:.2f}x the bare loop's p99"
            print(
                f"{r['name']}: p99 lateness {r['p99']:.3f} s (goal < {GOAL_P99} s) {verdict}{ratio}"
            )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"appointments-{stamp}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str))
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()

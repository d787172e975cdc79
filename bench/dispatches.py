"""WhatsApp dispatch benchmark: the real worker against the fake Cloud API behind a 20 ms round
trip, on SQLite and PostgreSQL, beside a bare sender (no database) pacing at the same limit.

Run from the repository root:

    .venv/bin/python bench/dispatches.py                     # 10,000 dispatches, both backends
    .venv/bin/python bench/dispatches.py --n 2000 --rate 80 --backend sqlite

Half the dispatches are immediate, half scheduled over the run; the number's limit is `--rate`
messages per second. It prints the sustained send rate (first to last accepted message), the
highest rate in any one-second window (never above the limit: the fake refuses with 130429
above it, counted as violations), and the p50/p99 lateness of the scheduled ones. The status
webhooks that follow the sends are measured by `bench/whatsapp_webhooks.py`, against a real
`carteiro serve` from a load process of its own (this process shares one GIL between the
fake, the proxy and the worker, and its in-process ASGI client cost more than the app). The
peer is a bare httpx sender with no database pacing at the same limit; the ratio is ours / its.
PostgreSQL through CARTEIRO_BENCH_PG_URL (a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from carteiro import wiring
from carteiro.config import Settings
from carteiro.db.base import table_of
from carteiro.db.types import utcnow
from carteiro.dispatches import service
from carteiro.dispatches.models import Disparo
from carteiro.dispatches.worker import DispatchWorker
from carteiro.leads.models import Lead, LeadTelefone
from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_whatsapp import FakeCloudApi
from carteiro.testing.latency_proxy import LatencyProxy
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.schemas import NumberCreate, TemplateCreate, TemplateParam

PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NUMBER = "5500000001"


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def max_window_rate(times: list[float]) -> int:
    """The most messages accepted within any one second."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def seed(runtime: object, n: int, base_url: str, rate: float, spread: float) -> list[int]:
    rt = runtime  # type: ignore[assignment]
    rt.bootstrap()  # type: ignore[attr-defined]
    principal = rt.local_principal()  # type: ignore[attr-defined]
    with rt.db.session() as session:  # type: ignore[attr-defined]
        whatsapp.create_number(
            session,
            tenant_id=principal.tenant_id,
            data=NumberCreate(
                name="bench",
                phone_number_id=NUMBER,
                token="tok",
                app_secret="s",
                verify_token="v",
                base_url=base_url,
                rate_per_second=rate,
                pair_interval_seconds=0,
            ),
            vault=rt.vault,  # type: ignore[attr-defined]
            evolution_enabled=False,
        )
        whatsapp.create_template(
            session,
            tenant_id=principal.tenant_id,
            data=TemplateCreate(name="aviso", params=[TemplateParam(name="nome")]),
        )
        session.execute(
            insert(table_of(Lead)),
            [
                {
                    "tenant_id": principal.tenant_id,
                    "lead_id_externo": f"L{i}",
                    "nome": f"C{i}",
                    "data_ingestao": utcnow(),
                    "updated_at": utcnow(),
                    "tags": [],
                    "status": "novo",
                }
                for i in range(n)
            ],
        )
        leads = list(session.scalars(select(Lead.lead_id).order_by(Lead.lead_id)))
        session.execute(
            insert(table_of(LeadTelefone)),
            [
                {
                    "tenant_id": principal.tenant_id,
                    "lead_id": lead_id,
                    "telefone": f"+55119{i:08d}",
                    "telefone_principal": True,
                    "tipo": "mobile",
                    "valido_para_disparo": True,
                    "created_at": utcnow(),
                }
                for i, lead_id in enumerate(leads)
            ],
        )
    # Created through the service (its validation is part of the product); the scheduled half
    # is parked a day ahead here and put on its real schedule by `anchor` once the seeding
    # (tens of seconds for 10,000) is over, so none of it is already overdue at the start.
    parked = utcnow() + timedelta(days=1)
    scheduled: dict[int, float] = {}
    for chunk in range(0, n, 500):
        with rt.db.session() as session:  # type: ignore[attr-defined]
            for i, lead_id in enumerate(leads[chunk : chunk + 500], start=chunk):
                offset = 1.5 * spread * i / n
                d = service.create(
                    session,
                    principal=principal,
                    lead_id=lead_id,
                    canal="whatsapp",
                    template="aviso",
                    variaveis={"nome": f"C{i}"},
                    agendar_para=parked + timedelta(seconds=offset) if i % 2 else None,
                )
                if i % 2:
                    scheduled[d.disparo_id] = offset
    return scheduled


def anchor(runtime: object, scheduled: dict[int, float], spread: float) -> None:
    """The immediate half goes first (n/2 at the limit, spread/2 seconds); the scheduled half
    falls due after it at a third of the limit, so its lateness is the scheduler's, not a
    backlog's."""
    rt = runtime  # type: ignore[assignment]
    start = utcnow() + timedelta(seconds=spread / 2)
    rows = [
        {
            "disparo_id": i,
            "run_at": start + timedelta(seconds=o),
            "data_agendado": start + timedelta(seconds=o),
        }
        for i, o in scheduled.items()
    ]
    with rt.db.session() as session:  # type: ignore[attr-defined]
        session.execute(update(Disparo), rows)


async def run_worker(runtime: object, n: int) -> float:
    rt = runtime  # type: ignore[assignment]
    worker = DispatchWorker(rt)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    began = time.perf_counter()

    def pending() -> int:
        with rt.db.session() as session:  # type: ignore[attr-defined]
            return len(
                session.scalars(
                    select(Disparo.disparo_id).where(Disparo.status == "pendente")
                ).all()
            )

    while time.perf_counter() - began < 3600:
        await asyncio.sleep(0.5)
        if worker.sent >= n or not await asyncio.to_thread(pending):
            break
    stop.set()
    await task
    return time.perf_counter() - began


async def bare_peer(base_url: str, n: int, rate: float) -> None:
    """No database: paced POSTs to the same fake through the same proxy."""
    step = 1.0 / rate
    body = {
        "messaging_product": "whatsapp",
        "to": "5511900000000",
        "type": "template",
        "template": {
            "name": "aviso",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "x", "parameter_name": "nome"}],
                }
            ],
        },
    }
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": "Bearer tok"},
        limits=httpx.Limits(max_connections=100),
        timeout=httpx.Timeout(60.0),
    ) as client:
        began = time.perf_counter()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, began + i * step - time.perf_counter()))
            # The fake's server may close an idle keep-alive connection as it is reused: the
            # peer just loses that message (it is counted from the fake's outbox).
            with contextlib.suppress(httpx.TransportError):
                await client.post(f"/v25.0/{NUMBER}/messages", json=body)

        await asyncio.gather(*(one(i) for i in range(n)))


def run_backend(backend: str, url: str, n: int, rate: float, data: Path) -> dict[str, float]:
    fake = FakeCloudApi(app_secret="s")
    fake.add_number(NUMBER, "tok")
    fake.add_template("aviso", 1)
    fake.rate_per_second = rate * 1.02  # the limit plus clock slack between two processes
    with serve_in_thread(fake.app) as graph:
        port = int(graph.rsplit(":", 1)[1])
        with LatencyProxy("127.0.0.1", port, rtt_ms=20) as proxy:
            proxied = f"http://127.0.0.1:{proxy.port}"
            settings = Settings(
                _env_file=None,
                database_url=url,
                data_dir=data,
                secret_key="bench",
                dispatch_poll_interval=0.05,
                dispatch_batch_size=500,
                email_rate_limit_per_hour=0,
                gmail_email=None,
                gmail_app_password=None,
                api_key=None,
            )
            runtime = wiring.runtime(settings)
            runtime.migrate()
            spread = n / rate
            scheduled = seed(runtime, n, proxied, rate, spread)
            anchor(runtime, scheduled, spread)
            cpu = time.process_time()
            elapsed = asyncio.run(run_worker(runtime, n))
            worker_cpu = time.process_time() - cpu
            times = [s.at for s in fake.outbox]
            overall = len(times) / (max(times) - min(times)) if len(times) > 1 else 0.0
            with runtime.db.session() as session:
                later = set(
                    session.scalars(
                        select(Disparo.correlation).where(Disparo.disparo_id.in_(list(scheduled)))
                    )
                )
            # The immediate half is a backlog from the first send: its rate is the most the
            # worker gets through the number, the one to hold against the limit.
            backlog = sorted(s.at for s in fake.outbox if s.correlation not in later)
            sustained = (len(backlog) - 1) / (backlog[-1] - backlog[0]) if len(backlog) > 1 else 0.0
            with runtime.db.session() as session:
                rows = session.execute(
                    select(Disparo.data_agendado, Disparo.data_envio).where(
                        Disparo.disparo_id.in_(list(scheduled))
                    )
                ).all()
            late = [max(0.0, (e - a).total_seconds()) for a, e in rows if e is not None]
            with runtime.db.session() as session:
                counts = dict(
                    session.execute(
                        select(Disparo.status, func.count()).group_by(Disparo.status)
                    ).all()
                )
            print(f"{backend}: statuses {counts}", flush=True)
            violations = fake.rate_violations
            fake.outbox.clear()
            cpu = time.process_time()
            asyncio.run(bare_peer(proxied, min(n, 2000), rate))
            peer_cpu = (time.process_time() - cpu) / max(1, len(fake.outbox))
            accepted = sorted(s.at for s in fake.outbox)
            # Measured as ours is: first to last message the fake accepted.
            peer = (len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0
            peer_max = max_window_rate(accepted)
            runtime.db.dispose()
    return {
        "sent": len(times),
        "seconds": elapsed,
        "sustained": sustained,
        "overall": overall,
        "max_1s": max_window_rate(times),
        "violations": violations,
        "p50_late": statistics.median(late) if late else 0.0,
        "p99_late": pct(late, 0.99),
        "worker_cpu": worker_cpu / max(1, len(times)),
        "peer_cpu": peer_cpu,
        "peer": peer,
        "peer_max_1s": peer_max,
    }


def main() -> None:
    # One log line per HTTP request would cost more than the requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=250.0, help="the number's msg/s limit")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            if backend == "sqlite":
                result = run_backend(backend, f"sqlite:///{data / 'b.db'}", args.n, args.rate, data)
            else:
                import psycopg

                name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
                try:
                    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                        conn.execute(f'CREATE DATABASE "{name}"')
                except psycopg.OperationalError as exc:
                    print(f"postgresql: skipped ({exc})")
                    continue
                try:
                    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
                    result = run_backend(backend, url, args.n, args.rate, data)
                finally:
                    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        r = result
        print(
            f"{backend}: {r['sent']:.0f} sent in {r['seconds']:.1f} s; sustained "
            f"{r['sustained']:.1f} msg/s of a {args.rate:g} msg/s limit "
            f"({r['sustained'] / args.rate:.0%}) over the immediate half; "
            f"{r['overall']:.1f} msg/s first to last; busiest second {r['max_1s']:.0f}; "
            f"130429 refusals {r['violations']:.0f}"
        )
        print(
            f"{backend}: scheduled lateness p50 {r['p50_late'] * 1000:.0f} ms, "
            f"p99 {r['p99_late'] * 1000:.0f} ms"
        )
        print(
            f"{backend}: bare sender (no database) {r['peer']:.1f} msg/s, busiest second "
            f"{r['peer_max_1s']:.0f}; ours/peer {r['sustained'] / r['peer']:.2f}; CPU per "
            f"message (the process: sender, fake and proxy) {r['worker_cpu'] * 1000:.2f} ms, "
            f"peer {r['peer_cpu'] * 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()

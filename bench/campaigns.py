"""Campaign benchmark: the seed-sized audience (164,809 leads) on SQLite and PostgreSQL.

Run from the repository root:

    .venv/bin/python bench/campaigns.py                      # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/campaigns.py --backend sqlite --enqueue 5000 --ledger 200000

What it measures, each against a peer run in the same invocation:

- materialisation: the audience (a tag rule over 164,809 leads, one e-mail each) into the
  recipients ledger in chunks with the stored cursor (goal < 10 s);
- enqueue rate: the planner's rounds (render with the sandboxed Jinja, link tracking, MIME,
  the queue rows and the ledger rows in one transaction) for `--enqueue` recipients (goal
  ≥ 2,000 msg/s on PostgreSQL); the queued mail is marked sent between rounds (outside the
  timing) so the in-flight bound does not stop the planner; no SMTP is involved;
  the queued messages are stored unsigned: the dispatcher DKIM-signs each one when it takes
  it (`outbound.claim.finish`), so that cost is measured apart, on `--sign` of the queued
  messages with the same signer, and the two are also printed combined (what one core would
  do if it enqueued and signed);
- the peer: a naive per-recipient loop (an ORM ledger object per recipient, a fresh Jinja
  render, one `outbound.service.create` call per message, which stores its message unsigned
  too), on `--naive` recipients;
- the stats endpoint (`GET /campaigns/{id}/stats`) at `--ledger` ledger rows (default
  1,000,000; goal p50 < 50 ms) against the naive peer that recounts the ledger on each read.

PostgreSQL is reached through CARTEIRO_BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); a scratch database is created and dropped.
Results are also saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, insert, select, text, update

from carteiro import wiring
from carteiro.accounts.models import Account
from carteiro.campaigns import ledger, planner, service
from carteiro.campaigns.models import Campaign, CampaignRecipient
from carteiro.campaigns.schemas import CampaignCreate
from carteiro.config import Settings
from carteiro.db.base import table_of
from carteiro.db.types import utcnow
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound import service as outbound
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.dkim.signers import Signers
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

SEED_ROWS = 164_809
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).resolve().parent / "results"
BODY = (
    "<html><body><h1>Olá {{ contato_nome | default('cliente') }}</h1>"
    + "<p>Oferta da semana para {{ nome | default('sua empresa') }}: confira os detalhes, "
    "os prazos de entrega e as condições de pagamento.</p>"
    * 12
    + '<p><a href="https://example.com/oferta?c={{ campaign.name }}">Ver oferta</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Sair da lista</a></p></body></html>'
)
SUBJECT = "{{ contato_nome | default('Olá') }}, a oferta da semana"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_runtime(url: str, data_dir: Path) -> Runtime:
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=data_dir,
        secret_key="bench-secret-key",
        email_rate_limit_per_hour=0,
        gmail_email=None,
        gmail_app_password=None,
        api_key=None,
        public_url="https://mail.example.com",
    )
    runtime = wiring.runtime(settings)
    runtime.migrate()
    return runtime


def fill_leads(runtime: Runtime, tenant_id: int, n: int) -> float:
    started = time.perf_counter()
    now = utcnow()
    with runtime.db.session() as session:
        first = (session.scalar(select(func.max(Lead.lead_id))) or 0) + 1
        for start in range(0, n, 20_000):
            ids = range(first + start, first + min(n, start + 20_000))
            session.execute(
                insert(table_of(Lead)),
                [
                    {
                        "lead_id": i,
                        "tenant_id": tenant_id,
                        "lead_id_externo": f"L{i}",
                        "nome": f"Empresa {i} Ltda",
                        "contato_nome": f"Contato {i}" if i % 3 else None,
                        "status": "novo",
                        "tags": ["newsletter"] if i % 10 else [],
                        "data_ingestao": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(table_of(LeadEmail)),
                [
                    {
                        "lead_id": i,
                        "tenant_id": tenant_id,
                        "email": f"contato{i}@cliente{i % 997}.com.br",
                        "email_principal": True,
                        "valido_para_disparo": True,
                        "consentimento": "unknown",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    return time.perf_counter() - started


def setup_sender(runtime: Runtime, tenant_id: int) -> None:
    """An active account (no SMTP is reached) and its domain's DKIM key: mail is signed."""
    with runtime.db.session() as session:
        session.add(
            Account(
                tenant_id=tenant_id,
                name="bench",
                email="ofertas@example.com",
                smtp_host="127.0.0.1",
                smtp_port=2525,
            )
        )
        dkim_keys.generate_key(
            session, tenant_id=tenant_id, domain="example.com", vault=runtime.vault
        )


def new_campaign(runtime: Runtime, principal: Principal, name: str) -> int:
    data = CampaignCreate.model_validate(
        {
            "name": name,
            "audience": {"kind": "rules", "rule": {"type": "tag", "tag": "newsletter"}},
            "variants": [{"subject": SUBJECT, "content": BODY, "preheader": "Só hoje"}],
            "pool_share": 1.0,
        }
    )
    with runtime.db.session() as session:
        c = service.create(session, principal=principal, data=data)
        c.status = "sending"
        return c.id


def materialise(runtime: Runtime, campaign_id: int) -> tuple[float, int]:
    started = time.perf_counter()
    done = False
    while not done:
        with runtime.db.session() as session:
            c = session.get_one(Campaign, campaign_id)
            done = ledger.materialise_chunk(session, c, now=utcnow())
    with runtime.db.session() as session:
        total = session.get_one(Campaign, campaign_id).audience_total
    return time.perf_counter() - started, total


def enqueue(runtime: Runtime, campaign_id: int, n: int) -> tuple[float, int]:
    runtime.settings.campaign_batch_max = 1000
    queued = 0
    spent = 0.0
    while queued < n:
        started = time.perf_counter()
        with runtime.db.session() as session:
            c = session.get_one(Campaign, campaign_id)
            added = planner.enqueue_due(session, c, settings=runtime.settings, now=utcnow())
        spent += time.perf_counter() - started
        if not added:
            break
        queued += added
        with runtime.db.session() as session:  # "delivered": frees the in-flight budget
            session.execute(
                update(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.status == "queued",
                )
                .values(status="sent")
            )
            session.execute(update(Email).where(Email.status == "pending").values(status="sent"))
    return spent, queued


def sign_at_send(runtime: Runtime, n: int) -> float:
    """Seconds per message the dispatcher spends DKIM-signing queued campaign mail."""
    with runtime.db.session() as session:
        rows = session.execute(
            select(Email.tenant_id, Email.from_email, Email.created_at, Email.raw)
            .where(Email.source == "campaign")
            .limit(n)
        ).all()
        signers = Signers(session, runtime.vault)
        started = time.perf_counter()
        for tenant_id, from_email, created_at, raw in rows:
            signed = signers.sign(raw, tenant_id=tenant_id, from_email=from_email, at=created_at)
            assert signed.startswith(b"DKIM-Signature:")
        return (time.perf_counter() - started) / max(1, len(rows))


def naive_enqueue(runtime: Runtime, principal: Principal, campaign_id: int, n: int) -> float:
    """The peer: one ORM object, one fresh template render and one enqueue per recipient."""
    with runtime.db.session() as session:
        leads = session.execute(
            select(Lead, LeadEmail.email)
            .join(LeadEmail, LeadEmail.lead_id == Lead.lead_id)
            .order_by(Lead.lead_id.desc())
            .limit(n)
        ).all()
    started = time.perf_counter()
    for lead, address in leads:
        with runtime.db.session() as session:
            row = CampaignRecipient(
                tenant_id=principal.tenant_id,
                campaign_id=campaign_id,
                lead_id=lead.lead_id,
                address=address + ".naive",
                status="pending",
            )
            session.add(row)
            session.flush()
            env = SandboxedEnvironment(autoescape=True)  # parsed afresh per recipient
            values = {
                "nome": lead.nome,
                "contato_nome": lead.contato_nome,
                "unsubscribe_url": "https://mail.example.com/u/x",
                "campaign": {"name": "naive"},
            }
            html = env.from_string(BODY).render(**values)
            subject = env.from_string(SUBJECT).render(**values)
            email, _ = outbound.create(
                session,
                principal=principal,
                data=EmailCreate(to_email=address, subject=subject, body="texto", html_body=html),
                settings=runtime.settings,
                source="campaign",
            )
            row.status, row.email_id = "queued", email.id
    return time.perf_counter() - started


def fill_ledger(runtime: Runtime, tenant_id: int, campaign_id: int, n: int) -> float:
    started = time.perf_counter()
    with runtime.db.session() as session:
        variant = ledger.variants_of(session, campaign_id)[0].id
        sql = (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
            "INSERT INTO campaign_recipients (tenant_id, campaign_id, address, status, "
            "variant_id, phase, opens, machine_opens, clicks) "
            "SELECT :t, :c, 'l' || s.n || '@ledger.example.com', "
            "CASE WHEN s.n % 10 = 0 THEN 'failed' WHEN s.n % 7 = 0 THEN 'skipped' "
            "ELSE 'sent' END, :v, 'all', 0, 0, 0 FROM s"
        )
        session.execute(text(sql), {"n": n, "t": tenant_id, "c": campaign_id, "v": variant})
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(audience_total=n, sent=n * 8 // 10, failed=n // 10, status="finished")
        )
    if runtime.db.dialect == "postgresql":
        with runtime.db.engine.connect() as conn:
            conn.execute(text("ANALYZE campaign_recipients"))
            conn.commit()
    return time.perf_counter() - started


def time_stats(runtime: Runtime, principal: Principal, campaign_id: int, calls: int) -> float:
    from fastapi.testclient import TestClient

    from carteiro.api.app import create_app

    with runtime.db.session() as session:
        from carteiro.tenancy import service as tenancy

        _, key = tenancy.create_key(session, tenant_id=principal.tenant_id, name="bench")
    times = []
    with TestClient(create_app(runtime, run_worker=False)) as client:
        h = {"Authorization": f"Bearer {key}"}
        for _ in range(calls):
            started = time.perf_counter()
            r = client.get(f"/campaigns/{campaign_id}/stats", headers=h)
            times.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
    return statistics.median(times)


def naive_stats(runtime: Runtime, campaign_id: int, calls: int) -> float:
    """The peer: recount the ledger on every read (what listmonk and Mautic pages do)."""
    R = CampaignRecipient
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        with runtime.db.session() as session:
            session.execute(
                select(
                    R.status,
                    func.count(),
                    func.count(R.first_open_at),
                    func.count(R.first_click_at),
                )
                .where(R.campaign_id == campaign_id)
                .group_by(R.status)
            ).all()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(backend: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    runtime = make_runtime(url, folder / "data")
    key = runtime.bootstrap()
    assert key is not None
    principal = runtime.authenticate(key)
    out: dict[str, Any] = {"backend": backend}
    out["fill_leads_s"] = fill_leads(runtime, principal.tenant_id, args.leads)
    setup_sender(runtime, principal.tenant_id)
    cid = new_campaign(runtime, principal, "bench")
    out["materialise_s"], out["audience"] = materialise(runtime, cid)
    spent, queued = enqueue(runtime, cid, args.enqueue)
    out["enqueue_msgs"], out["enqueue_s"] = queued, spent
    out["enqueue_rate"] = queued / spent if spent else 0.0
    out["sign_us"] = sign_at_send(runtime, args.sign) * 1e6
    if args.naive:
        peer = new_campaign(runtime, principal, "naive")
        naive_s = naive_enqueue(runtime, principal, peer, args.naive)
        out["naive_rate"] = args.naive / naive_s
    big = new_campaign(runtime, principal, "ledger")
    out["fill_ledger_s"] = fill_ledger(runtime, principal.tenant_id, big, args.ledger)
    out["stats_p50_ms"] = time_stats(runtime, principal, big, 50) * 1000
    out["naive_stats_p50_ms"] = naive_stats(runtime, big, 10) * 1000
    out["peak_rss_mb"] = rss_mb()
    runtime.db.dispose()
    return out


def report(r: dict[str, Any], leads: int, ledger_rows: int) -> None:
    b = r["backend"]
    print(f"\n[{b}] {r['audience']:,} recipients from {leads:,} leads")
    ok = "ok" if r["materialise_s"] < 10 else "MISSED"
    print(f"  materialisation   {r['materialise_s']:8.2f} s   (goal < 10 s: {ok})")
    goal = " (goal ≥ 2,000 msg/s)" if b == "postgresql" else ""
    print(
        f"  enqueue           {r['enqueue_rate']:8.0f} msg/s over {r['enqueue_msgs']:,}{goal}"
        " — render + tracking + MIME + queue and ledger rows in one transaction"
    )
    combined = 1 / (1 / r["enqueue_rate"] + r["sign_us"] / 1e6)
    print(
        f"  DKIM at send      {r['sign_us']:8.0f} µs/msg in the dispatcher; enqueue and "
        f"signing on one core {combined:.0f} msg/s"
    )
    if "naive_rate" in r:
        print(
            f"  naive peer        {r['naive_rate']:8.0f} msg/s   ratio "
            f"{r['enqueue_rate'] / r['naive_rate']:.1f}x"
        )
    ok = "ok" if r["stats_p50_ms"] < 50 else "MISSED"
    print(
        f"  stats endpoint    {r['stats_p50_ms']:8.2f} ms p50 at {ledger_rows:,} ledger rows "
        f"(goal < 50 ms: {ok})"
    )
    print(
        f"  naive recount     {r['naive_stats_p50_ms']:8.2f} ms p50   ratio "
        f"{r['naive_stats_p50_ms'] / r['stats_p50_ms']:.1f}x"
    )
    print(f"  peak RSS          {r['peak_rss_mb']:8.0f} MB")


def main() -> None:
    logging.disable(logging.INFO)  # the test client logs every request
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--leads", type=int, default=SEED_ROWS)
    parser.add_argument("--enqueue", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=500)
    parser.add_argument("--sign", type=int, default=2000)
    parser.add_argument("--ledger", type=int, default=1_000_000)
    args = parser.parse_args()
    results = []
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"carteiro-bench-{backend}-") as tmp:
            folder = Path(tmp)
            if backend == "sqlite":
                results.append(run(backend, f"sqlite:///{folder / 'bench.db'}", args, folder))
                continue
            try:
                import psycopg

                name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
            except Exception as exc:  # no server: say so and go on
                print(f"[postgresql] skipped: {exc}", file=sys.stderr)
                continue
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
                results.append(run(backend, url, args, folder))
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for r in results:
        report(r, args.leads, args.ledger)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"campaigns-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

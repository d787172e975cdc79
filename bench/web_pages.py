"""Console page times on a full database: the inbox, outbox, leads and dashboard pages.

Run from the repository root:

    .venv/bin/python bench/web_pages.py                 # SQLite and PostgreSQL, full sizes
    .venv/bin/python bench/web_pages.py --quick         # a tenth of the rows, a few minutes
    .venv/bin/python bench/web_pages.py --sqlite-only --samples 50

What it sets up, per database: a throwaway database (`enqueue.throwaway_runtime`), an admin
and an operator granted the one mail account, both logged in through the login form, then by
bulk inserts (not through the API, so that filling takes seconds, not hours) 100,000 outbound
e-mails over 30 days in every status with their events, 165,000 leads as an import leaves them
(company and contact names, a CNPJ, five statuses, a tag on one in four, an e-mail each with
one in ten opted out, a phone on two in three), and 200,000 inbox messages in 20,000 threads of
the account's INBOX with their participants. After the fill, what autovacuum would do: ANALYZE
(and on PostgreSQL VACUUM, which folds the trigram indexes' pending lists in).

What it measures: each page requested `--samples` times in-process (Starlette's TestClient,
so the time is the server's: routing, the person's session, queries, templates; no network),
after one warm-up request; p50 and p95 per page and its bytes: the dashboard, the inbox (first
page, unread, a thread open), the outbox (first page, each status, searches that find 11 rows
by recipient, one by subject, one by Message-ID, one with a status, 100 rows, every row, and a
two-character search that no trigram serves; page 100), the dead letters (first page and page
10) and the held tab, the leads list with each filter and a lead's page, and for the operator
the dashboard, inbox, outbox, an outbox search and the dead letters through the mailbox grant.
`--only WORD` (repeatable) times only the pages whose name holds WORD.
Targets (from the console's issue): p95 < 150 ms for list pages, < 300 ms for the dashboard;
each page's p95 is printed with its share of the target (p95 / target).
The peer, in the same run: the pages that search (leads `q` and `company`, outbox `q`) are
timed again with the search served by a full scan (`leads.search.scan`, `outbound.search.scan`:
the queries before the trigram indexes of migrations 0016 and 0018; on PostgreSQL the outbox
scan runs with bitmap scans off, which keeps the GIN indexes out of its plan), and the ratio
scan / indexed is printed.
A page this checkout does not have (404) is reported as missing, not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, percentile
from enqueue import throwaway_runtime
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, insert, select, text

from carteiro.accounts.models import Account
from carteiro.api.app import create_app
from carteiro.db.base import table_of
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxParticipant, InboxThread
from carteiro.leads import search
from carteiro.leads.models import LEAD_STATUSES, Lead, LeadEmail, LeadTelefone
from carteiro.outbound import search as outbox_search
from carteiro.outbound.models import LANE_BULK, LANE_TRANSACTIONAL, Email, EmailEvent
from carteiro.runtime import Runtime
from carteiro.tenancy import access, people

CHUNK = 5000
PASSWORD = "bench-password-123"
STATUSES = ("sent",) * 14 + ("failed", "dead", "pending", "bounced", "cancelled", "held")
LIST_TARGET_MS, DASHBOARD_TARGET_MS = 150.0, 300.0
CITIES = ("Campinas", "Recife", "Curitiba", "Manaus", "Salvador", "Goiânia", "Belém")


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(runtime: Runtime, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    for batch in _chunks(rows):
        with runtime.db.session() as session:
            session.execute(insert(table), batch)
        n += len(batch)
    return n


def _next_id(runtime: Runtime, column: Any) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


def fill_emails(runtime: Runtime, *, tenant_id: int, account_id: int, count: int) -> None:
    now = datetime.now(UTC)
    first = _next_id(runtime, Email.id)
    rng = random.Random(1)

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(count):
            status = STATUSES[i % len(STATUSES)]
            created = now - timedelta(seconds=rng.randrange(30 * 86400))
            mid = f"<bench.{first + i}@bench.example.com>"
            yield {
                "id": first + i,
                "tenant_id": tenant_id,
                "account_id": account_id,
                "account_pinned": False,
                "status": "sent" if status == "bounced" else status,
                "lane": LANE_BULK if i % 3 else LANE_TRANSACTIONAL,
                "priority": 1,
                "from_email": "vendas@empresa.com.br",
                "to_email": f"cliente{i}@exemplo.com.br",
                "to_emails": [f"cliente{i}@exemplo.com.br"],
                "subject": f"Proposta {i} para a empresa {i % 997}",
                "message_id": mid,
                "body": "Olá, segue a proposta.",
                "raw": (
                    raw := f"Message-ID: {mid}\r\nSubject: Proposta {i}\r\n\r\nOla\r\n".encode()
                ),
                "size": len(raw),
                "run_at": created,
                "created_at": created,
                "updated_at": created,
                "sent_at": created + timedelta(seconds=2)
                if status in ("sent", "bounced")
                else None,
                "error_type": "auth" if status in ("failed", "dead") else None,
                "error_message": "535 authentication failed"
                if status in ("failed", "dead")
                else None,
                "retry_count": 0,
                "max_retries": 3,
                "attempts": 1,
                "source": "api",
            }

    _insert(runtime, table_of(Email), rows())

    def events() -> Iterator[dict[str, Any]]:
        for i in range(count):
            status = STATUSES[i % len(STATUSES)]
            kind = {"sent": "sent", "bounced": "bounce_hard", "failed": "failed", "dead": "dead"}
            if status in kind:
                yield {
                    "tenant_id": tenant_id,
                    "email_id": first + i,
                    "type": kind[status],
                    "created_at": now - timedelta(seconds=rng.randrange(30 * 86400)),
                }

    _insert(runtime, table_of(EmailEvent), events())


def fill_leads(runtime: Runtime, *, tenant_id: int, count: int) -> None:
    """Leads as an import leaves them: a company name and a contact, a CNPJ, five statuses, a tag
    on one in four, an e-mail each (one in ten opted out) and a phone on two in three."""
    first = _next_id(runtime, Lead.lead_id)
    now = datetime.now(UTC)

    def leads() -> Iterator[dict[str, Any]]:
        for i in range(count):
            at = now - timedelta(seconds=count - i)
            yield {
                "lead_id": first + i,
                "tenant_id": tenant_id,
                "lead_id_externo": f"ext-{first + i}",
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

    _insert(runtime, table_of(Lead), leads())
    _insert(
        runtime,
        table_of(LeadEmail),
        (
            {
                "lead_id": first + i,
                "tenant_id": tenant_id,
                "email": f"contato{i}@empresa{i % 997}.com.br",
                "email_principal": True,
                "consentimento": "opt_out" if i % 10 == 0 else "unknown",
            }
            for i in range(count)
        ),
    )
    _insert(
        runtime,
        table_of(LeadTelefone),
        (
            {
                "lead_id": first + i,
                "tenant_id": tenant_id,
                "telefone": f"+55119{i:08d}",
                "telefone_principal": True,
                "tipo": "mobile",
            }
            for i in range(count)
            if i % 3
        ),
    )


def fill_inbox(
    runtime: Runtime, *, tenant_id: int, account_id: int, threads: int, messages: int
) -> int:
    """Returns the id of a thread to open."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        folder = InboxFolder(
            tenant_id=tenant_id,
            account_id=account_id,
            name="INBOX",
            role="inbox",
            flags=[],
            last_uid=messages,
            message_count=messages,
            unread_count=messages // 5,
        )
        session.add(folder)
        session.flush()
        folder_id = folder.id
    first_thread = _next_id(runtime, InboxThread.id)
    per = max(1, messages // threads)

    def thread_rows() -> Iterator[dict[str, Any]]:
        for t in range(threads):
            last = now - timedelta(minutes=7 * t)
            yield {
                "id": first_thread + t,
                "tenant_id": tenant_id,
                "account_id": account_id,
                "subject": f"Pedido {t}: orçamento de material",
                "subject_key": f"pedido {t}: orçamento de material",
                "snippet": "Bom dia, segue o orçamento pedido…",
                "participants": [f"contato{t}@fornecedor.com.br"],
                "first_message_at": last - timedelta(days=2),
                "last_message_at": last,
                "message_count": per,
                "unread_count": 1 if t % 5 == 0 else 0,
                "has_attachments": t % 7 == 0,
                "created_at": last,
                "updated_at": last,
            }

    _insert(runtime, table_of(InboxThread), thread_rows())
    first_message = _next_id(runtime, InboxMessage.id)

    def message_rows() -> Iterator[dict[str, Any]]:
        for m in range(messages):
            t = m % threads
            when = now - timedelta(minutes=7 * t, seconds=m // threads)
            sender = f"contato{t}@fornecedor.com.br"
            yield {
                "id": first_message + m,
                "tenant_id": tenant_id,
                "account_id": account_id,
                "thread_id": first_thread + t,
                "folder_id": folder_id,
                "uid": m + 1,
                "direction": "in",
                "category": "normal",
                "message_id": f"<in.{m}@fornecedor.com.br>",
                "reference_ids": [],
                "subject": f"Pedido {t}: orçamento de material",
                "from_address": sender,
                "from_name": f"Contato {t}",
                "to_addresses": [{"email": "vendas@empresa.com.br", "name": ""}],
                "cc_addresses": [],
                "reply_to": [],
                "headers": {},
                "date": when,
                "size": 4000,
                "seen": m % 5 != 0,
                "flagged": m % 50 == 0,
                "answered": False,
                "draft": False,
                "keywords": [],
                "snippet": "Bom dia, segue o orçamento pedido…",
                "text_body": "Bom dia, segue o orçamento pedido.\n\nAtenciosamente",
                "has_attachments": False,
                "truncated": False,
                "defects": [],
                "created_at": when,
                "updated_at": when,
            }

    _insert(runtime, table_of(InboxMessage), message_rows())
    _insert(
        runtime,
        table_of(InboxParticipant),
        (
            {
                "tenant_id": tenant_id,
                "message_id": first_message + m,
                "thread_id": first_thread + m % threads,
                "role": "from",
                "email": f"contato{m % threads}@fornecedor.com.br",
            }
            for m in range(messages)
        ),
    )
    return first_thread


def analyze(runtime: Runtime) -> None:
    """What autovacuum does after a fill this size: statistics, and on PostgreSQL a vacuum,
    which also merges the trigram (GIN) indexes' pending lists into the indexes proper."""
    if runtime.db.engine.dialect.name == "postgresql":
        with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return
    with runtime.db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def _login(client: TestClient, email: str) -> None:
    client.get("/ui/login")
    token = client.cookies.get("carteiro_csrf")
    response = client.post(
        "/ui/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token or ""},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise SystemExit(f"could not log in: {response.status_code} {response.text[:300]}")


@contextlib.contextmanager
def full_scan_search() -> Iterator[None]:
    """The peer: lead search and the company filter as a scan of every lead, and the outbox
    search as a scan of the tenant's mail (no index: the queries before migrations 0016 and
    0018)."""
    indexed, company, outbox = search.matches, search.company_matches, outbox_search.matches

    def scan(session: Any, *, tenant_id: int, q: str) -> Any:
        return search.scan(q)

    def scan_company(session: Any, *, company: str) -> Any:
        return Lead.nome.ilike(f"%{search.escape_like(company)}%", escape="\\")

    def scan_outbox(session: Any, *, q: str) -> Any:
        if session.get_bind().dialect.name == "postgresql":
            # The same LIKEs, with the trigram indexes out of the planner's reach.
            session.execute(text("SET LOCAL enable_bitmapscan = off"))
        return outbox_search.scan(q)

    search.matches, search.company_matches = scan, scan_company  # type: ignore[assignment]
    outbox_search.matches = scan_outbox  # type: ignore[assignment]
    try:
        yield
    finally:
        search.matches, search.company_matches = indexed, company  # type: ignore[assignment]
        outbox_search.matches = outbox  # type: ignore[assignment]


def _samples(client: TestClient, url: str, samples: int) -> list[float]:
    client.get(url).raise_for_status()  # warm-up
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def time_pages(
    client: TestClient, pages: list[tuple[str, str, str]], samples: int, only: list[str]
) -> list[dict[str, Any]]:
    out = []
    for name, kind, url in pages:
        if only and not any(word in name for word in only):
            continue
        first = client.get(url)
        if first.status_code == 404:
            out.append({"page": name, "url": url, "missing": True})
            continue
        if first.status_code != 200:
            raise SystemExit(f"{url} answered {first.status_code}: {first.text[:300]}")
        times = _samples(client, url, samples)
        target = DASHBOARD_TARGET_MS if kind == "dashboard" else LIST_TARGET_MS
        p95 = percentile(times, 0.95) or 0.0
        row: dict[str, Any] = {
            "page": name,
            "url": url,
            "p50_ms": round(percentile(times, 0.5) or 0.0, 1),
            "p95_ms": round(p95, 1),
            "bytes": len(first.content),
            "target_ms": target,
            "of_target": round(p95 / target, 2),
            "meets": p95 < target,
        }
        if kind == "search":
            with full_scan_search():
                scanned = percentile(_samples(client, url, samples), 0.95) or 0.0
            row["scan_p95_ms"] = round(scanned, 1)
            row["scan_ratio"] = round(scanned / p95, 1) if p95 else None
        out.append(row)
    return out


def run(db: str, *, scale: float, samples: int, only: list[str]) -> dict[str, Any]:
    sizes = {
        "emails": int(100_000 * scale),
        "leads": int(165_000 * scale),
        "inbox_messages": int(200_000 * scale),
        "threads": int(20_000 * scale),
    }
    with throwaway_runtime(db) as runtime:
        with runtime.db.session() as session:
            account = session.scalars(select(Account)).one()
            tenant_id, account_id = account.tenant_id, account.id
            people.create(
                session,
                tenant_id=tenant_id,
                email="admin@bench.example.com",
                name="Bench Admin",
                password=PASSWORD,
                role="admin",
            )
            operator = people.create(
                session,
                tenant_id=tenant_id,
                email="operator@bench.example.com",
                name="Bench Operator",
                password=PASSWORD,
                role="operator",
            )
            access.grant(session, user_id=operator.id, account_id=account_id)
        started = time.perf_counter()
        fill_emails(runtime, tenant_id=tenant_id, account_id=account_id, count=sizes["emails"])
        fill_leads(runtime, tenant_id=tenant_id, count=sizes["leads"])
        thread = fill_inbox(
            runtime,
            tenant_id=tenant_id,
            account_id=account_id,
            threads=sizes["threads"],
            messages=sizes["inbox_messages"],
        )
        analyze(runtime)
        fill_seconds = time.perf_counter() - started
        app = create_app(runtime, run_worker=False)
        with TestClient(app) as client:
            _login(client, "admin@bench.example.com")
            pages = [
                ("dashboard", "dashboard", "/ui/"),
                ("inbox, first page", "list", "/ui/inbox"),
                ("inbox, unread", "list", "/ui/inbox?unread=1"),
                ("inbox, a thread open", "list", f"/ui/inbox?thread={thread}"),
                ("outbox, first page", "list", "/ui/outbox"),
                *(
                    (f"outbox, {status}", "list", f"/ui/outbox?status={status}")
                    for status in ("pending", "held", "sent", "failed", "dead", "cancelled")
                ),
                ("outbox, search", "search", "/ui/outbox?q=cliente4242"),
                ("outbox, search subject", "search", "/ui/outbox?q=Proposta+4242+para"),
                ("outbox, search msg-id", "search", "/ui/outbox?q=bench.4242%40"),
                ("outbox, search + status", "search", "/ui/outbox?q=cliente4242&status=sent"),
                ("outbox, search, 1 of 997", "search", "/ui/outbox?q=empresa+996"),
                ("outbox, search, all", "search", "/ui/outbox?q=exemplo.com"),
                ("outbox, search, 2 chars", "list", "/ui/outbox?q=42"),
                ("outbox, page 100", "list", "/ui/outbox?offset=5000"),
                ("dead letters", "list", "/ui/queue"),
                ("dead letters, page 10", "list", "/ui/queue?offset=500"),
                ("held", "list", "/ui/queue?tab=held"),
                ("leads, first page", "list", "/ui/leads"),
                ("leads, page 100", "list", "/ui/leads?offset=5000"),
                ("leads, search name", "search", "/ui/leads?q=Pessoa+12345"),
                ("leads, search e-mail", "search", "/ui/leads?q=contato777%40"),
                ("leads, search phone", "search", "/ui/leads?q=11900054321"),
                ("leads, company", "search", "/ui/leads?company=Recife"),
                ("leads, status", "list", "/ui/leads?status=qualificado"),
                ("leads, opted out", "list", "/ui/leads?consent=opt_out"),
                ("leads, tag", "list", "/ui/leads?tag=vip"),
                ("a lead", "list", f"/ui/leads/{sizes['leads'] // 2}"),
            ]
            results = time_pages(client, pages, samples, only)
        # A person who sees one mailbox: the same pages, filtered to it.
        with TestClient(app) as client:
            _login(client, "operator@bench.example.com")
            mine = [
                ("operator: dashboard", "dashboard", "/ui/"),
                ("operator: inbox", "list", "/ui/inbox"),
                ("operator: outbox", "list", "/ui/outbox"),
                ("operator: outbox search", "search", "/ui/outbox?q=cliente4242"),
                ("operator: dead letters", "list", "/ui/queue"),
            ]
            results += time_pages(client, mine, samples, only)
    return {
        "database": db,
        "sizes": sizes,
        "fill_seconds": round(fill_seconds, 1),
        "pages": results,
    }


def print_result(result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    print(
        f"\n{result['database']}: {sizes['emails']:,} e-mails, {sizes['leads']:,} leads, "
        f"{sizes['inbox_messages']:,} inbox messages in {sizes['threads']:,} threads "
        f"(filled in {result['fill_seconds']} s)"
    )
    print(
        f"{'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'KB':>7}  {'target':<20} {'p95/target':>10}"
        f"  peer: full scan p95 (ratio)"
    )
    for row in result["pages"]:
        if row.get("missing"):
            print(f"{row['page']:<24} {'—':>8} {'—':>8} {'—':>7}  missing in this checkout")
            continue
        verdict = "PASS" if row["meets"] else "MISS"
        peer = ""
        if "scan_p95_ms" in row:
            peer = f"  {row['scan_p95_ms']} ms ({row['scan_ratio']}x slower)"
        goal = f"< {row['target_ms']:.0f} ms: {verdict}"
        print(
            f"{row['page']:<24} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['bytes'] / 1024:>7.1f}  {goal:<20} {row['of_target']:>10.2f}{peer}"
        )


def main() -> None:
    # Each request would otherwise log a line (httpx, the MCP session manager).
    logging.basicConfig(level=logging.WARNING, force=True)
    for name in ("httpx", "mcp", "carteiro"):
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, 10 samples")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgresql-only", action="store_true")
    parser.add_argument(
        "--only", action="append", default=[], help="only pages whose name holds this (repeatable)"
    )
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    samples = args.samples or (10 if args.quick else 30)
    dbs = (
        ["sqlite"]
        if args.sqlite_only
        else ["postgresql"]
        if args.postgresql_only
        else [
            "sqlite",
            "postgresql",
        ]
    )
    results = []
    for db in dbs:
        result = run(db, scale=scale, samples=samples, only=args.only)
        print_result(result)
        results.append(result)
    out = BENCH / "results" / f"web_pages-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()

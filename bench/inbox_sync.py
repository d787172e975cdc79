"""Inbox sync: the first sync of 10,000 messages, and how soon IDLE makes new mail visible.

Run from the repository root (needs Debian's dovecot-imapd installed; nothing is installed here):

    .venv/bin/python bench/inbox_sync.py                    # SQLite, 10,000 messages
    .venv/bin/python bench/inbox_sync.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/inbox_sync.py -n 2000 --samples 10

A private Dovecot on a loopback port is filled by MULTIAPPEND with a realistic mix: plain
replies in threads (In-Reply-To/References), HTML newsletters with a text alternative, and
messages with a PDF attachment, in Portuguese, UTF-8 and ISO-8859-1. Then:

1. First sync: `sync_account` of the empty database against the full INBOX, in messages per
   second, next to the peer floor: the same messages only FETCHed with IMAPClient (no parsing,
   no storage), the speed any IMAP sync written in Python on this client could at most reach.
   Target: at least 500 messages/s.
2. New-mail latency: the worker's `inbox_loop` keeps IDLE on INBOX while the API is served by
   uvicorn; each sample APPENDs one message and polls `GET /inbox/threads?limit=5` (what a mail
   client shows) until it is listed. Target: under 2 s from the end of the APPEND to the API
   listing it (Dovecot itself announces new mail to IDLE about 0.5 s after delivery).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httpx
import uvicorn
from imapclient import IMAPClient

from carteiro import wiring
from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate
from carteiro.api.app import create_app
from carteiro.config import Settings
from carteiro.inbound.worker import inbox_loop, sync_account_blocking
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.testing.dovecot import Dovecot

TARGET_RATE = 500.0
TARGET_LATENCY = 2.0
PARAGRAPH = (
    "Olá, tudo bem? Conforme conversamos, seguem os detalhes da proposta comercial para o "
    "próximo trimestre, com os valores revisados e o cronograma de implantação.\n"
)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 80


def corpus(count: int) -> list[bytes]:
    """A deterministic mix: 60% threaded replies, 25% HTML, 15% with an attachment."""
    start = datetime.now(UTC) - timedelta(days=60)
    built: list[bytes] = []
    roots: list[str] = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = f"Cliente {i % 700} <cliente{i % 700}@empresa{i % 50}.com.br>"
        msg["To"] = "inbox@example.com"
        msg["Date"] = format_datetime(start + timedelta(minutes=5 * i))
        msg["Message-ID"] = make_msgid(idstring=str(i), domain="bench.example")
        kind = i % 20
        if kind < 12 and roots:
            parent = roots[(i * 7) % len(roots)]
            msg["Subject"] = f"Re: Proposta {i % 400}"
            msg["In-Reply-To"] = parent
            msg["References"] = parent
            msg.set_content(PARAGRAPH * 4 + "\n> citação da mensagem anterior\n" * 5)
        elif kind < 17:
            msg["Subject"] = f"Novidades de março nº {i}"
            msg.set_content(PARAGRAPH * 10, charset="iso-8859-1")
            msg.add_alternative(
                "<html><body>" + "<p>" + PARAGRAPH * 10 + "</p></body></html>", subtype="html"
            )
        else:
            msg["Subject"] = f"Nota fiscal {i}"
            msg.set_content(PARAGRAPH * 2)
            msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"nf-{i}.pdf")
        if kind >= 12:
            roots.append(msg["Message-ID"])
        built.append(bytes(msg))
    return built


def make_runtime(database: str | None, data_dir: Path) -> tuple[Runtime, str | None]:
    dropped = None
    if database:
        import psycopg

        name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = database.rsplit("/", 1)[0] + "/" + name
        dropped = name
    else:
        url = f"sqlite:///{data_dir}/bench.db"
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=data_dir / "data",
        secret_key="bench",
        log_level="WARNING",
    )
    runtime = wiring.runtime(settings)
    runtime.migrate()
    runtime.bootstrap()
    return runtime, dropped


def add_account(runtime: Runtime, dovecot: Dovecot) -> tuple[int, int]:
    with runtime.db.session() as session:
        tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
        account = accounts.create(
            session,
            tenant_id=tenant.id,
            data=AccountCreate(
                name="bench",
                email=dovecot.user,
                smtp={"host": "127.0.0.1", "port": 2525, "security": "none"},  # type: ignore[arg-type]
                imap={**dovecot.imap_settings, "poll_seconds": 600},
            ),
            vault=runtime.vault,
        )
        return account.id, tenant.id


def raw_fetch_rate(dovecot: Dovecot, count: int) -> float:
    """The peer floor: FETCH every body with IMAPClient, nothing else."""
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False)
    client.login(dovecot.user, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    start = time.perf_counter()
    for i in range(0, len(uids), 500):
        client.fetch(uids[i : i + 500], ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[]"])
    elapsed = time.perf_counter() - start
    client.logout()
    return count / elapsed


def serve(runtime: Runtime) -> tuple[str, uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime, run_worker=False), log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, sock


def latency(runtime: Runtime, dovecot: Dovecot, key: str, samples: int) -> list[float]:
    base, server, thread, sock = serve(runtime)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    worker = threading.Thread(
        target=loop.run_until_complete,
        args=(inbox_loop(runtime, stop, discover_seconds=0.5),),
        daemon=True,
    )
    worker.start()
    times: list[float] = []
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            # Ready once the worker has taken the account and IDLEs on INBOX.
            time.sleep(3)
            for _ in range(samples):
                token = uuid.uuid4().hex
                msg = EmailMessage()
                msg["From"] = "novo@cliente.com.br"
                msg["To"] = dovecot.user
                msg["Subject"] = f"Chegou {token}"
                msg.set_content("Mensagem nova.")
                dovecot.append("INBOX", bytes(msg))
                delivered = time.perf_counter()
                while True:
                    # What a mail client does: list the newest threads and look for it.
                    page = http.get("/inbox/threads", params={"limit": 5}).json()
                    if any(token in t["subject"] for t in page["items"]):
                        times.append(time.perf_counter() - delivered)
                        break
                    if time.perf_counter() - delivered > 30:
                        times.append(float("inf"))
                        break
                    time.sleep(0.02)
                time.sleep(0.2)
    finally:
        loop.call_soon_threadsafe(stop.set)
        worker.join(60)
        server.should_exit = True
        thread.join(20)
        sock.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=10_000, help="messages in the first sync")
    parser.add_argument("--samples", type=int, default=20, help="new-mail latency samples")
    parser.add_argument("--database", default=None, help="PostgreSQL admin URL (default SQLite)")
    args = parser.parse_args()
    if not Dovecot.available():
        raise SystemExit("dovecot is not installed (Debian: apt-get install dovecot-imapd)")

    with tempfile.TemporaryDirectory() as tmp, Dovecot() as dovecot:
        runtime, dropped = make_runtime(args.database, Path(tmp))
        try:
            messages = corpus(args.n)
            size = sum(len(m) for m in messages)
            start = time.perf_counter()
            dovecot.append_many("INBOX", messages)
            print(
                f"filled INBOX with {args.n} messages ({size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - start:.1f} s; database: {runtime.db.dialect}"
            )
            floor = raw_fetch_rate(dovecot, args.n)
            account_id, tenant_id = add_account(runtime, dovecot)
            start = time.perf_counter()
            report = sync_account_blocking(runtime, account_id=account_id)
            elapsed = time.perf_counter() - start
            rate = report.new / elapsed
            print(f"first sync: {report.new} messages in {elapsed:.2f} s = {rate:.0f} messages/s")
            print(f"  peer floor (FETCH only, IMAPClient): {floor:.0f} messages/s")
            print(f"  ratio to the FETCH-only floor: {rate / floor:.2f}")
            print(
                f"  target >= {TARGET_RATE:.0f} messages/s: "
                f"{'met' if rate >= TARGET_RATE else 'MISSED'} ({rate / TARGET_RATE:.2f}x)"
            )

            with runtime.db.session() as session:
                _, key = tenancy.create_key(session, tenant_id=tenant_id, name="bench")
            times = latency(runtime, dovecot, key, args.samples)
            print("  samples:", " ".join(f"{t:.2f}" for t in times))
            ordered = sorted(times)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            print(
                f"new mail visible through the API (IDLE), {len(times)} samples: "
                f"median {statistics.median(times):.3f} s, p95 {p95:.3f} s, max {max(times):.3f} s"
            )
            print(
                f"  target < {TARGET_LATENCY:.0f} s: "
                f"{'met' if max(times) < TARGET_LATENCY else 'MISSED'} "
                f"(worst case at {max(times) / TARGET_LATENCY:.2f} of the target)"
            )
        finally:
            runtime.db.dispose()
            if dropped and args.database:
                import psycopg

                with psycopg.connect(args.database, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


if __name__ == "__main__":
    main()

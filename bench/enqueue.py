"""Enqueue throughput: composing a message, `service.create_batch` and `POST /emails/batch`.

Run from the repository root:

    .venv/bin/python bench/enqueue.py                      # PostgreSQL and SQLite
    .venv/bin/python bench/enqueue.py --messages 10000 --sqlite-only

Every message is the ~4 KB text+HTML one the dispatch benchmark sends (`_common.py`), to its
own recipient, from the account "bench", without a DKIM key.

- **compose**: `compose_message` as the queue calls it for bulk mail (List-Unsubscribe fields
  included), written directly and built by the email package (`stdlib=True`, the path every
  message took before), on the same inputs in the same run: µs per message. The first
  messages are checked to come out byte for byte the same.
- **create_batch**: the service call the API makes, 1,000 messages per call, on a throwaway
  database, then the same with the email package composing, to show what composing costs.
- **POST /emails/batch**: the same through HTTP against `carteiro serve --no-worker`
  (`_carteiro.CarteiroStack`); request bodies are encoded before the clock starts.

PostgreSQL runs create and drop a throwaway database on
`postgresql://postgres@127.0.0.1:5432/postgres` (override with `CARTEIRO_BENCH_PG_URL`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _carteiro import CarteiroStack
from _common import BENCH, HTML_BODY, PG_ADMIN_URL, SENDER, SUBJECT, TEXT_BODY, recipient

from carteiro import wiring
from carteiro.config import Settings
from carteiro.leads import unsubscribe
from carteiro.mail import compose
from carteiro.mail.compose import compose_message, make_message_id
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime

BATCH = 1000


def _direct_writer() -> bool:
    """Whether this checkout has the direct writer (older ones only have the email package)."""
    return "stdlib" in inspect.signature(compose_message).parameters


# -- compose alone -------------------------------------------------------------------------


def _compose_args(count: int) -> list[dict[str, Any]]:
    settings = Settings(_env_file=None, secret_key="bench", public_url="https://mail.example.com")
    now = datetime.now(UTC)
    return [
        {
            "from_addr": SENDER,
            "from_name": None,
            "to": [recipient(i)],
            "cc": [],
            "subject": SUBJECT,
            "text": TEXT_BODY,
            "html": HTML_BODY,
            "headers": unsubscribe.list_unsubscribe_headers(
                settings, tenant_id=1, address=recipient(i)
            ),
            "message_id": make_message_id("example.com"),
            "date": now,
        }
        for i in range(count)
    ]


def _per_message(fn: Callable[..., bytes], args: list[dict[str, Any]]) -> float:
    """Best of three rounds, µs per message."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for kwargs in args:
            fn(**kwargs)
        best = min(best, time.perf_counter() - started)
    return best / len(args) * 1e6


def bench_compose(count: int) -> dict[str, Any]:
    args = _compose_args(count)
    result: dict[str, Any] = {"messages": count}
    if not _direct_writer():
        result["stdlib_us"] = _per_message(compose_message, args)
        return result
    for kwargs in args[:50]:
        random.seed(kwargs["message_id"])  # the same multipart boundaries for both paths
        direct = compose_message(**kwargs)
        random.seed(kwargs["message_id"])
        if direct != compose_message(**kwargs, stdlib=True):
            raise SystemExit("the direct writer and the email package disagree; see the tests")
    result["stdlib_us"] = _per_message(partial(compose_message, stdlib=True), args)
    result["direct_us"] = _per_message(compose_message, args)
    return result


# -- create_batch ----------------------------------------------------------------------------


@contextmanager
def throwaway_runtime(db: str) -> Iterator[Runtime]:
    """A migrated database of its own, the default tenant and an account named "bench"."""
    from carteiro.accounts import service as accounts
    from carteiro.accounts.schemas import AccountCreate, SmtpIn

    tmp = Path(tempfile.mkdtemp(prefix="carteiro-enqueue-"))
    pg_name = None
    url = f"sqlite:///{tmp / 'carteiro.db'}"
    if db == "postgresql":
        import psycopg

        pg_name = f"carteiro_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=tmp / "data",
        secret_key="bench-secret-key",
        email_rate_limit_per_hour=0,
        gmail_email=None,
        gmail_app_password=None,
        api_key=None,
    )
    runtime = wiring.runtime(settings)
    try:
        runtime.migrate()
        runtime.bootstrap()
        smtp = SmtpIn(host="127.0.0.1", port=2525, security="none")
        with runtime.db.session() as session:
            tenant_id = runtime.local_principal().tenant_id
            account = AccountCreate(name="bench", email=SENDER, smtp=smtp)
            accounts.create(session, tenant_id=tenant_id, data=account, vault=runtime.vault)
        yield runtime
    finally:
        runtime.db.dispose()
        if pg_name is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def _items(start: int, count: int) -> list[EmailCreate]:
    return [
        EmailCreate(
            to_email=recipient(i),
            subject=SUBJECT,
            body=TEXT_BODY,
            html_body=HTML_BODY,
            account="bench",
        )
        for i in range(start, start + count)
    ]


@contextmanager
def _stdlib_compose() -> Iterator[None]:
    """The queue composing through the email package, as every message did before."""
    from carteiro.outbound import enqueue

    original = enqueue.compose_message
    enqueue.compose_message = partial(compose.compose_message, stdlib=True)  # type: ignore[assignment]
    try:
        yield
    finally:
        enqueue.compose_message = original  # type: ignore[assignment]


def _create_batches(runtime: Runtime, start: int, count: int) -> float:
    """Messages per second queued by `service.create_batch`, one transaction per call."""
    from carteiro.outbound import service

    principal = runtime.local_principal()
    batches = [_items(first, BATCH) for first in range(start, start + count, BATCH)]
    started = time.perf_counter()
    for items in batches:
        with runtime.db.session() as session:
            service.create_batch(
                session, principal=principal, items=items, settings=runtime.settings
            )
    return count / (time.perf_counter() - started)


def bench_service(db: str, count: int) -> dict[str, float]:
    with throwaway_runtime(db) as runtime:
        _create_batches(runtime, 0, BATCH)  # warm-up: imports, caches, connections
        result = {"create_batch": _create_batches(runtime, BATCH, count)}
        if _direct_writer():
            with _stdlib_compose():
                result["create_batch_stdlib"] = _create_batches(runtime, BATCH + count, count)
        return result


# -- POST /emails/batch ------------------------------------------------------------------------


def _bodies(start: int, count: int) -> list[bytes]:
    return [
        json.dumps(
            [
                {
                    "to_email": recipient(i),
                    "subject": SUBJECT,
                    "body": TEXT_BODY,
                    "html_body": HTML_BODY,
                    "account": "bench",
                }
                for i in range(first, first + BATCH)
            ]
        ).encode()
        for first in range(start, start + count, BATCH)
    ]


def bench_http(db: str, count: int) -> float:
    # No message is sent, so the account's SMTP server only has to look plausible.
    with tempfile.NamedTemporaryFile(suffix=".pem") as ca_file:
        stack = CarteiroStack(db=db, smtp_port=2525, ca_file=ca_file.name)
    with stack:
        assert stack.http is not None
        headers = {"Content-Type": "application/json"}
        for body in _bodies(0, BATCH):
            stack.http.post("/emails/batch", content=body, headers=headers).raise_for_status()
        bodies = _bodies(BATCH, count)
        started = time.perf_counter()
        for body in bodies:
            stack.http.post("/emails/batch", content=body, headers=headers).raise_for_status()
        return count / (time.perf_counter() - started)


# -- report ------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    c = results["compose"]
    print(f"\ncompose, one ~4 KB text+HTML bulk message ({c['messages']:,} messages, best of 3)")
    print(f"  {'email package (MIMEPart tree)':<34}{c['stdlib_us']:>7.0f} µs/message")
    if "direct_us" in c:
        ratio = c["stdlib_us"] / c["direct_us"]
        print(f"  {'direct writer':<34}{c['direct_us']:>7.0f} µs/message   {ratio:.1f}x faster")
    print(f"\nenqueue, {BATCH:,} messages per call ({results['messages']:,} messages per row)")
    print(f"  {'database':<12}{'path':<44}{'msg/s':>8}")
    for db, run in results["runs"].items():
        rows = [
            ("service.create_batch", run["create_batch"]),
            ("service.create_batch, email-package compose", run.get("create_batch_stdlib")),
            ("POST /emails/batch (carteiro serve)", run["http"]),
        ]
        for label, rate in rows:
            if rate is not None:
                print(f"  {db:<12}{label:<44}{rate:>8,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="per measured row")
    parser.add_argument("--compose", type=int, default=2000, help="messages composed")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    count = max(BATCH, args.messages // BATCH * BATCH)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "messages": count,
        "compose": bench_compose(args.compose),
        "runs": {},
    }
    for db in ["sqlite"] if args.sqlite_only else ["postgresql", "sqlite"]:
        print(f"{db}: create_batch …", flush=True)
        run: dict[str, Any] = bench_service(db, count)
        print(f"{db}: POST /emails/batch …", flush=True)
        run["http"] = bench_http(db, count)
        results["runs"][db] = run
    report(results)
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (out_dir / f"enqueue-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

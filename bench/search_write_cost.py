"""What the outbox search indexes (migration 0021) cost the queue's writes, with and without.

Run from the repository root:

    .venv/bin/python bench/search_write_cost.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/search_write_cost.py --messages 10000 --rounds 3 --db sqlite

On one throwaway database per engine, rounds alternate between the schema as migrated and
the same schema without the search objects (SQLite: the FTS5 table's triggers; PostgreSQL:
its trigram GIN index), so both sides share the machine's load. Each round queues
`--messages` e-mails with `service.create_batch` (1,000 per call, the API's path), then
claims and acknowledges them as sent in groups of 100 (`queue.claim` / `queue.complete`,
the worker's two writes, no SMTP). Printed: messages/s for each step and side, the ratio
with / without, and the size of the search objects.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enqueue import _create_batches, throwaway_runtime
from sqlalchemy import text

from carteiro.db.types import utcnow
from carteiro.mail.transports.base import SendResult
from carteiro.outbound import queue
from carteiro.outbound.outcome import Outcome, RetryPolicy
from carteiro.runtime import Runtime

POLICY = RetryPolicy(base_seconds=10, max_seconds=60)
GROUP = 100


def _sqlite_triggers(runtime: Runtime) -> list[str]:
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'emails_fts_%'"
            )
        )
        return [str(r[0]) for r in rows]


def set_search(runtime: Runtime, *, on: bool, saved: list[str]) -> None:
    """Puts the search objects back (`on`) or takes them away."""
    pg = runtime.db.engine.dialect.name == "postgresql"
    with runtime.db.engine.begin() as conn:
        if pg:
            conn.execute(text("DROP INDEX IF EXISTS ix_emails_search_trgm"))
            if on:
                conn.execute(
                    text(
                        "CREATE INDEX ix_emails_search_trgm ON emails USING gin "
                        "(lower(to_email || ' ' || subject || ' ' || message_id) gin_trgm_ops)"
                    )
                )
            return
        for name in ("ai", "ad", "au"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS emails_fts_{name}"))
        if on:
            for sql in saved:
                conn.execute(text(sql))
            # What the triggers missed while they were away.
            conn.execute(text("INSERT INTO emails_fts(emails_fts) VALUES ('rebuild')"))


def drain(runtime: Runtime) -> float:
    """Claims and acknowledges every queued message; messages/s."""
    done = 0
    started = time.perf_counter()
    while True:
        with runtime.db.session() as session:
            claimed = queue.claim(session, worker_id="w", limit=GROUP, lease_seconds=60)
        if not claimed:
            break
        outcomes = [
            Outcome(c, "bench", utcnow(), 0.001, result=SendResult(250, "2.0.0 OK", 0.001))
            for c in claimed
        ]
        with runtime.db.session() as session:
            queue.complete(session, worker_id="w", outcomes=outcomes, policy=POLICY)
        done += len(claimed)
    return done / (time.perf_counter() - started)


def search_size(runtime: Runtime) -> str:
    with runtime.db.engine.connect() as conn:
        if runtime.db.engine.dialect.name == "postgresql":
            size = conn.scalar(text("SELECT pg_relation_size('ix_emails_search_trgm')"))
        else:
            size = conn.scalar(
                text(
                    "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'emails_fts%'"
                    if conn.scalar(
                        text("SELECT count(*) FROM pragma_module_list WHERE name = 'dbstat'")
                    )
                    else "SELECT NULL"
                )
            )
    return f"{int(size) / 1e6:.1f} MB" if size else "unknown"


def run(db: str, *, messages: int, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {"database": db, "with": [], "without": []}
    with throwaway_runtime(db) as runtime:
        saved = _sqlite_triggers(runtime) if db == "sqlite" else []
        _create_batches(runtime, 0, 1000)  # warm-up: imports, caches, connections
        drain(runtime)
        start = 1000
        for r in range(rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                set_search(runtime, on=on, saved=saved)
                enqueue_rate = _create_batches(runtime, start, messages)
                start += messages
                out["with" if on else "without"].append((enqueue_rate, drain(runtime)))
        set_search(runtime, on=True, saved=saved)
        out["search_size"] = search_size(runtime)
        out["rows"] = start
    return out


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['database']}: {result['rows']:,} e-mails at the end")
    print(f"{'schema':<22} {'create_batch msg/s':>20} {'claim+ack msg/s':>17}")
    means = {}
    for side in ("with", "without"):
        runs = result[side]
        for enq, ack in runs:
            print(f"{side + ' search objects':<22} {enq:>20,.0f} {ack:>17,.0f}")
        means[side] = (
            statistics.mean(e for e, _ in runs),
            statistics.mean(a for _, a in runs),
        )
    (we, wa), (oe, oa) = means["with"], means["without"]
    print(f"ratio with / without (means): create_batch {we / oe:.2f}, claim+ack {wa / oa:.2f}")
    print(f"search objects' size: {result['search_size']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"], default=[])
    args = parser.parse_args()
    for db in args.db or ["sqlite", "postgresql"]:
        report(run(db, messages=args.messages, rounds=args.rounds))


if __name__ == "__main__":
    main()

"""Fault runs (not timed): workers killed, PostgreSQL restarted, a sink that fails and drops.

    .venv/bin/python bench/faults.py                     # all four, 20,000 messages each
    .venv/bin/python bench/faults.py --quick             # 5,000 messages each
    .venv/bin/python bench/faults.py --only kill --messages 20000
    .venv/bin/python bench/faults.py --only kill-deep --deep 500000

- kill: two `carteiro worker` processes; every --kill-every seconds one is SIGKILLed and a new
  one started. Just before each kill, the rows leased to that worker (status `sending`) are
  counted: they are the messages in flight, the most that may be sent twice.
- pg-restart: PostgreSQL is restarted (pg_ctlcluster) while two workers send. The bound is the
  rows in `sending` at the restart.
- sink-faults: the sink answers 451 or 421 to 5% of messages and drops the connection on 2%;
  every message must end `sent` (or `dead` after its retries, which is reported). A 421
  pauses the account (throttling), so the cooldown is set to 1 s for this run.
- kill-deep: the kill run with --deep (500,000) more messages queued behind the ones
  followed (bulk SQL copies at low priority, same account): kills while the claim walks a
  deep queue. Copies still queued at the end are deleted before the count.

Each run prints lost (must be 0: a row `sent` that the sink never accepted, or a row left
unfinished), duplicates (Message-IDs the sink accepted more than once) with their bound, and
the final statuses. Leases are shortened to 10 s and retries start at 0.2 s so that recovery
fits in the run; the sink has no delay (0 ms round trip) unless --rtt-ms says otherwise.
"""

from __future__ import annotations

import argparse
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _carteiro import CarteiroStack
from _common import SinkProcess
from _fill import engine_for, fill
from sqlalchemy import text

FAULT_ENV = {
    "CARTEIRO_LEASE_SECONDS": "10",
    "CARTEIRO_RETRY_BASE_SECONDS": "0.2",
    "CARTEIRO_RETRY_MAX_SECONDS": "2",
    "CARTEIRO_POLL_INTERVAL": "0.5",
    # A 421 "too busy" pauses the account (throttling); a short pause keeps the run bounded.
    "CARTEIRO_BREAKER_COOLDOWN_SECONDS": "1",
}


def _sending(stack: CarteiroStack, pid: int | None = None) -> int:
    """Rows leased right now (to the worker with `pid`, or to anyone)."""
    owner = "%" if pid is None else f"%:{pid}:%"
    query = "SELECT count(*) FROM emails WHERE status = 'sending' AND lease_owner LIKE "
    if stack.pg_name is not None:
        import psycopg

        with psycopg.connect(stack.database_url, connect_timeout=5) as conn:
            row = conn.execute(query + "%s", (owner,)).fetchone()
    else:
        path = stack.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=10) as conn:
            row = conn.execute(query + "?", (owner,)).fetchone()
    return int(row[0]) if row else 0


def _settle(stack: CarteiroStack, total: int, timeout: float) -> dict[str, int]:
    stack.wait_done(total, timeout, final=("sent", "failed", "dead", "cancelled"))
    return stack.counts()


def _verdict(
    name: str, stack: CarteiroStack, sink: SinkProcess, ids: list[int], bound: int, extra: str
) -> dict[str, Any]:
    counts = stack.counts()
    rows = stack.emails()
    by_id = {row["id"]: row for row in rows}
    received = sink.message_ids()
    accepted = set(received)
    missing_rows = [i for i in ids if i not in by_id]
    sent_not_received = [
        r["id"] for r in rows if r["status"] == "sent" and r["message_id"] not in accepted
    ]
    unfinished = [r["id"] for r in rows if r["status"] in ("pending", "sending")]
    # Rows still queued are not lost (they are durable and will go), but the run says so.
    lost = len(missing_rows) + len(sent_not_received)
    duplicates = len(received) - len(accepted)
    statuses = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)
    print(f"\n[{name}] {extra}")
    print(f"  lost: {lost}  {'OK' if lost == 0 else 'FAIL'}")
    if lost:
        missing, unreceived = len(missing_rows), len(sent_not_received)
        print(f"    rows missing {missing}, sent but not received {unreceived}")
    if unfinished:
        print(f"  still queued when the run stopped waiting: {len(unfinished)} (not lost)")
    verdict = "OK" if duplicates <= bound else "OVER BOUND"
    print(f"  duplicates: {duplicates} (bound: {bound} in flight at the faults)  {verdict}")
    print(f"  final statuses: {statuses}")
    return {
        "name": name,
        "lost": lost,
        "unfinished": len(unfinished),
        "duplicates": duplicates,
        "bound": bound,
        "counts": counts,
    }


def run_kill(args: argparse.Namespace) -> dict[str, Any]:
    with (
        SinkProcess([args.rtt_ms]) as sink,
        CarteiroStack(
            db=args.db, smtp_port=sink.ports[args.rtt_ms], ca_file=sink.cert, env=FAULT_ENV
        ) as stack,
    ):
        # Everything is queued first, so the kills land while the workers are busy sending.
        ids = stack.enqueue(args.messages)
        kills, bound = _kill_loop(stack, args, lambda: stack.counts().get("pending", 0) == 0)
        _settle(stack, len(ids), args.timeout)
        return _verdict(
            "kill", stack, sink, ids, bound, f"{kills} SIGKILLs every {args.kill_every:g}s"
        )


def _kill_loop(
    stack: CarteiroStack, args: argparse.Namespace, done: Callable[[], bool]
) -> tuple[int, int]:
    """Two workers; every --kill-every seconds one is SIGKILLed and replaced, until `done`.
    Returns the kills and the rows the killed workers held (the bound on duplicates)."""
    workers = [stack.start_worker(), stack.start_worker()]
    kills, bound, victim = 0, 0, 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        time.sleep(args.kill_every)
        if done():
            break
        proc = workers[victim]
        inflight = _sending(stack, proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        bound += inflight
        kills += 1
        workers[victim] = stack.start_worker()
        victim = 1 - victim
    return kills, bound


def run_deep(args: argparse.Namespace) -> dict[str, Any]:
    """The kill run with --deep more messages queued behind the ones followed: copies made
    by bulk SQL at low priority for the same account, so every claim walks the same deep
    queue. Those left queued at the end are deleted before the count; any sent are counted."""
    with (
        SinkProcess([args.rtt_ms]) as sink,
        CarteiroStack(
            db=args.db, smtp_port=sink.ports[args.rtt_ms], ca_file=sink.cert, env=FAULT_ENV
        ) as stack,
    ):
        ids = stack.enqueue(args.messages)
        engine = engine_for(stack.database_url)
        try:
            took = fill(engine, args.deep, template_id=ids[0], tag="ballast", priority=3)
            followed = set(ids)

            def open_followed() -> int:
                with engine.connect() as conn:
                    return int(
                        conn.execute(
                            text(
                                "SELECT count(*) FROM emails WHERE priority <> 3 "
                                "AND status IN ('pending', 'sending')"
                            )
                        ).scalar_one()
                    )

            kills, bound = _kill_loop(stack, args, lambda: open_followed() == 0)
            deadline = time.monotonic() + args.timeout
            while open_followed() and time.monotonic() < deadline:
                time.sleep(0.5)
            stack.stop_workers()
            with engine.begin() as conn:
                left = conn.execute(
                    text("DELETE FROM emails WHERE priority = 3 AND status = 'pending'")
                ).rowcount
        finally:
            engine.dispose()
        extra = (
            f"{args.deep:,} more queued behind them by bulk SQL in {took:.0f}s "
            f"({left:,} of them still queued at the end, deleted before the count); "
            f"{kills} SIGKILLs every {args.kill_every:g}s"
        )
        result = _verdict("kill-deep", stack, sink, sorted(followed), bound, extra)
        return result


def _pg_version() -> str | None:
    try:
        out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[1] == "main" and re.fullmatch(r"\d+", parts[0]):
            return parts[0]
    return None


def run_pg_restart(args: argparse.Namespace) -> dict[str, Any] | None:
    version = _pg_version()
    if version is None:
        print("\n[pg-restart] skipped: no local PostgreSQL cluster found (pg_lsclusters)")
        return None
    with (
        SinkProcess([args.rtt_ms]) as sink,
        CarteiroStack(
            db="postgresql", smtp_port=sink.ports[args.rtt_ms], ca_file=sink.cert, env=FAULT_ENV
        ) as stack,
    ):
        stack.start_worker()
        stack.start_worker()
        ids = stack.enqueue(args.messages)
        while stack.counts().get("sent", 0) < len(ids) // 4:
            time.sleep(0.2)
        bound = _sending(stack)
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"\n[pg-restart] not permitted here: {done.stderr.strip()[:300]}")
            return None
        took = time.monotonic() - started
        _settle(stack, len(ids), args.timeout)
        return _verdict(
            "pg-restart", stack, sink, ids, bound, f"PostgreSQL {version} restarted in {took:.1f}s"
        )


def run_sink_faults(args: argparse.Namespace) -> dict[str, Any]:
    # Nine 451s for each 421: a 421 also pauses the account for the cooldown.
    replies = ["451 4.3.0 Temporary local problem, try again"] * 9
    replies.append("421 4.7.0 Too busy, closing connection")
    faults = {"fail_share": 0.05, "drop_share": 0.02, "fail_replies": replies}
    with (
        SinkProcess([args.rtt_ms], **faults) as sink,
        CarteiroStack(
            db=args.db, smtp_port=sink.ports[args.rtt_ms], ca_file=sink.cert, env=FAULT_ENV
        ) as stack,
    ):
        stack.start_worker()
        stack.start_worker()
        ids = stack.enqueue(args.messages)
        _settle(stack, len(ids), args.timeout)
        injected = sink.stats()["faults"]
        return _verdict(
            "sink-faults",
            stack,
            sink,
            ids,
            0,
            f"5% answered 451 (1 in 10 of them 421), 2% dropped at end of data: "
            f"{injected:,} faults injected",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["kill", "pg-restart", "sink-faults", "kill-deep"], action="append"
    )
    parser.add_argument(
        "--deep", type=int, default=500_000, help="messages queued behind, for kill-deep"
    )
    parser.add_argument("--messages", type=int)
    parser.add_argument("--quick", action="store_true", help="5,000 messages per run")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    args.messages = args.messages or (5_000 if args.quick else 20_000)
    runs = args.only or ["kill", "pg-restart", "sink-faults", "kill-deep"]
    results = []
    if "kill" in runs:
        results.append(run_kill(args))
    if "pg-restart" in runs:
        results.append(run_pg_restart(args))
    if "sink-faults" in runs:
        results.append(run_sink_faults(args))
    if "kill-deep" in runs:
        results.append(run_deep(args))
    failed = [r["name"] for r in results if r and (r["lost"] or r["duplicates"] > r["bound"])]
    print("\nfault runs:", "all OK" if not failed else "FAILED: " + ", ".join(failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Dispatch throughput side by side: Carteiro end to end against its peers, in one run.

    .venv/bin/python bench/dispatch.py                   # 20 ms and 0 ms round trips
    .venv/bin/python bench/dispatch.py --rtt-ms 20 --messages 5000
    .venv/bin/python bench/dispatch.py --quick           # small sizes, a few minutes

One SMTP sink (STARTTLS and AUTH required, PIPELINING offered) runs in a process of its own
behind a TCP proxy that delays bytes by half the round trip each way. Every contender sends
the same ~4 KB text+HTML message to it:

- Carteiro end to end: `carteiro serve --no-worker`, N messages through POST /emails/batch
  (1,000 per call), sent by 1 and 2 `carteiro worker` processes, on SQLite and PostgreSQL;
  messages/s from the first enqueue to the last `sent` (the rows' created_at and sent_at),
  enqueue→sent p50/p99, peak RSS of the workers.
- django-post-office: messages queued, then `send_queued_mail` timed until the queue is
  empty, with its defaults and tuned (50 threads, batch 1,000), in bench/.peers.
- The seed's approach: smtplib, a new connection + STARTTLS + login per message, 10 threads.
- Carteiro's SmtpTransport alone (no database), pipelined and sequential.
- A bare pipelined asyncio client with no database: the ceiling.

Each Carteiro configuration runs --repeat times (2 by default), each run right after a run
of the bare client on the same proxy, and prints its rate beside that bare rate and the
ratio, plus a steady rate (the middle 80% of the messages, by sent_at). Results are printed
as a table with ratios and the targets (PASS/MISS per run), and saved as JSON under
bench/results/. The machine is shared: read the ratios to the bare client, not the
absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _carteiro import run_carteiro
from _common import BENCH, SinkProcess
from _runners import run_client, run_post_office

CARTEIRO_CONFIGS = [("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)]
REFERENCE = "carteiro postgresql x2"
# Contender names to run (substrings); empty: all of them.
ONLY: list[str] = []


def _sizes(rtt: float, args: argparse.Namespace) -> dict[str, int]:
    """Message counts per contender, so each configuration stays within about two minutes."""
    if args.quick:
        n = args.messages or (2000 if rtt == 0 else 1000)
        return {"n": n, "seed": min(n, 300), "po": min(n, 1000)}
    n = args.messages or (20_000 if rtt == 0 else 5_000)
    slow = 5_000 if rtt == 0 else 1_500
    return {"n": n, "seed": min(n, slow), "po": min(n, 5_000 if rtt == 0 else 3_000)}


def _attempt(rows: list[dict[str, Any]], name: str, count: int, run: Callable[[], dict]) -> None:
    if ONLY and not any(part in name for part in ONLY):
        return
    print(f"  {name} ({count:,} messages) …", flush=True)
    started = time.monotonic()
    try:
        result = run()
    except Exception as exc:  # one broken contender must not hide the others
        traceback.print_exc()
        result = {"error": str(exc)[:300]}
    result.update(name=name, messages=count, wall=time.monotonic() - started)
    rows.append(result)


def run_rtt(sink: SinkProcess, rtt: float, args: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = _sizes(rtt, args)
    n = sizes["n"]
    rows: list[dict[str, Any]] = []
    print(f"\n== round trip {rtt:g} ms ==", flush=True)
    _attempt(rows, "bare pipelined client", n, lambda: run_client("bare_client.py", sink, rtt, n))
    _attempt(rows, "SmtpTransport pipelined", n, lambda: run_client("smtp_client.py", sink, rtt, n))
    _attempt(
        rows,
        "SmtpTransport sequential",
        n,
        lambda: run_client("smtp_client.py", sink, rtt, n, "--no-pipelining"),
    )
    if not args.skip_peers:
        seed_n, po_n = sizes["seed"], sizes["po"]
        _attempt(
            rows,
            "seed (smtplib x10)",
            seed_n,
            lambda: run_client("seed_client.py", sink, rtt, seed_n),
        )
        _attempt(
            rows,
            "post-office defaults",
            po_n,
            lambda: run_post_office(sink, rtt, po_n, tuned=False),
        )
        _attempt(
            rows, "post-office tuned", po_n, lambda: run_post_office(sink, rtt, po_n, tuned=True)
        )
    configs = [(db, w, False) for db, w in CARTEIRO_CONFIGS]
    # Queue filled through the API first, then drained: how post-office is measured.
    configs.append(("postgresql", 2, True))
    for db, workers, prefill in configs:
        if args.sqlite_only and db != "sqlite":
            continue
        name = f"carteiro {db} x{workers}" + (" drain" if prefill else "")
        for run in range(1, args.repeat + 1):
            before = len(rows)
            _attempt(
                rows,
                name,
                n,
                lambda db=db, workers=workers, prefill=prefill: _beside_bare(
                    sink,
                    rtt,
                    n,
                    lambda: run_carteiro(
                        sink=sink, rtt=rtt, db=db, workers=workers, count=n, prefill=prefill
                    ),
                ),
            )
            if len(rows) > before:
                rows[-1]["run"] = run
    return rows


def _beside_bare(sink: SinkProcess, rtt: float, n: int, run: Callable[[], dict]) -> dict:
    """A Carteiro run with the bare client's rate measured just before it, on the same proxy:
    the ratio of the two is what survives a busy, shared machine."""
    bare = run_client("bare_client.py", sink, rtt, min(n, 5000))
    result = run()
    result["bare_rate"] = bare["rate"]
    return result


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def print_table(rtt: float, rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"\nRound trip {rtt:g} ms",
        f"{'contender':<30} {'msgs':>7} {'msg/s':>8} {'steady':>7} {'bare':>7} {'x bare':>6}"
        f" {'p50':>8} {'p99':>8} {'peak RSS':>9}  notes",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{_label(row):<30} {row['messages']:>7,}  ERROR {row['error'][:60]}")
            continue
        notes = []
        if row.get("finished") is False:
            notes.append("DID NOT FINISH")
        if row.get("duplicates"):
            notes.append(f"{row['duplicates']} duplicates")
        if row.get("enqueue_rate"):
            notes.append(f"API enqueue {row['enqueue_rate']:,.0f}/s")
        if row.get("send_rate"):
            notes.append(f"first→last sent {row['send_rate']:,.0f}/s")
        received = row.get("received")
        if received is not None and received < row.get("sent", 0):
            notes.append(f"sink got {received}")
        p50 = row.get("p50")
        p99 = row.get("p99")
        bare = row.get("bare_rate")
        versus = row["rate"] / bare if bare and row.get("rate") else None
        lines.append(
            f"{_label(row):<30} {row['messages']:>7,} {_fmt(row.get('rate')):>8}"
            f" {_fmt(row.get('steady_rate')):>7} {_fmt(bare):>7} {_fmt(versus, '', 2):>6}"
            f" {_fmt(p50, ' s', 2):>8} {_fmt(p99, ' s', 2):>8} {_fmt(row.get('rss_mb'), ' MB'):>9}"
            f"  {', '.join(notes)}"
        )
    return lines


def _label(row: dict[str, Any]) -> str:
    return row["name"] + (f" (run {row['run']})" if "run" in row else "")


def _rate(rows: list[dict[str, Any]], name: str) -> float | None:
    for row in rows:
        if row["name"] == name and "rate" in row and row.get("finished", True):
            return float(row["rate"])
    return None


def ratios_and_targets(rtt: float, rows: list[dict[str, Any]]) -> list[str]:
    peers = [
        "post-office defaults",
        "post-office tuned",
        "seed (smtplib x10)",
        "bare pipelined client",
    ]
    carteiros = [r for r in rows if r["name"].startswith("carteiro") and "rate" in r]
    lines = ["", f"{'ratio Carteiro/peer':<30} " + " ".join(f"{p[:14]:>15}" for p in peers)]
    for row in carteiros:
        mine = float(row["rate"])
        cells = []
        for peer in peers:
            # The bare client: the run measured just before this one, not the first.
            theirs = row.get("bare_rate") if peer == "bare pipelined client" else None
            theirs = theirs or _rate(rows, peer)
            cells.append(_fmt(mine / theirs, "x", 2) if mine and theirs else "—")
        lines.append(f"{_label(row):<30} " + " ".join(f"{c:>15}" for c in cells))
    for reference in (REFERENCE, f"{REFERENCE} drain"):
        for row in rows:
            if row["name"] == reference and "rate" in row:
                lines += _targets(rtt, rows, row)
    return lines


def _targets(rtt: float, rows: list[dict[str, Any]], row: dict[str, Any]) -> list[str]:
    ref = float(row["rate"]) if row.get("finished", True) else None
    bare = row.get("bare_rate")
    versus = ref / bare if ref and bare else None
    checks: list[tuple[str, float | None, float]] = []
    if rtt >= 20:
        checks = [
            ("≥ 10× post-office defaults", _ratio(ref, rows, "post-office defaults"), 10),
            ("≥ 2× post-office tuned", _ratio(ref, rows, "post-office tuned"), 2),
            ("≥ 20× seed approach", _ratio(ref, rows, "seed (smtplib x10)"), 20),
            ("≥ 1,000 msg/s PostgreSQL x2", ref, 1000),
            ("≥ 0.9× bare client (same run)", versus, 0.9),
        ]
    elif rtt == 0:
        checks = [
            ("≥ 1.5× post-office defaults", _ratio(ref, rows, "post-office defaults"), 1.5),
            ("≥ 1.5× post-office tuned", _ratio(ref, rows, "post-office tuned"), 1.5),
            ("≥ 70% of bare client (same run)", versus, 0.7),
        ]
    lines = ["", f"targets at {rtt:g} ms (Carteiro = {_label(row)}):"] if checks else []
    for label, value, goal in checks:
        verdict = "—" if value is None else ("PASS" if value >= goal else "MISS")
        shown = _fmt(value, "", 2 if value is not None and value < 100 else 0)
        lines.append(f"  {label:<32} {shown:>9}  {verdict}")
    return lines


def _ratio(ref: float | None, rows: list[dict[str, Any]], peer: str) -> float | None:
    theirs = _rate(rows, peer)
    return ref / theirs if ref and theirs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rtt-ms", type=float, action="append", help="round trip(s) to simulate (20 and 0)"
    )
    parser.add_argument("--messages", type=int, help="N (default 20,000 at 0 ms, 5,000 at 20)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes in all")
    parser.add_argument("--skip-peers", action="store_true", help="Carteiro and the ceiling only")
    parser.add_argument("--sqlite-only", action="store_true", help="no PostgreSQL runs")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each Carteiro configuration (default 2)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only contenders whose name contains this (repeatable), e.g. 'postgresql x2'",
    )
    args = parser.parse_args()
    ONLY.extend(args.only)
    rtts = args.rtt_ms or [20.0, 0.0]
    report: list[str] = []
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "runs": {}}
    with SinkProcess(rtts) as sink:
        for rtt in rtts:
            rows = run_rtt(sink, rtt, args)
            results["runs"][str(rtt)] = rows
            report += print_table(rtt, rows) + ratios_and_targets(rtt, rows)
    print("\n".join(report))
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out_dir / f"dispatch-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

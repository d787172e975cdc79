"""Send rate against queue depth: 1 and 2 `carteiro worker` processes at 10k … 1M queued.

    .venv/bin/python bench/depth.py                          # both databases, 10k 100k 500k 1M
    .venv/bin/python bench/depth.py --quick                  # 10k and 100k, short windows
    .venv/bin/python bench/depth.py --db postgresql --depths 10000,1000000

For each database and depth, on a fresh database with one account (max_connections 50)
behind the latency proxy (20 ms round trip unless --rtt-ms):

1. One message is queued through the API; the queue is then filled to the depth with bulk
   SQL copies of that row (each with its own Message-ID and recipient), not through the API,
   so that a million rows take seconds. Before the fill, 10,000 copies are marked sent and
   the table is ANALYZEd: the statistics are stale (taken when nothing was pending), the
   state the claim used to be misled by.
2. EXPLAIN (ANALYZE, BUFFERS) (SQLite: EXPLAIN QUERY PLAN) of the claim's candidate
   statements, captured from `queue.claim` itself in a rolled-back transaction, with the
   stale statistics; after the runs again with fresh statistics and with none.
3. For 1 and 2 workers, each --repeat times: the workers start, warm up for --warmup
   seconds, then the messages the sink accepts over --window seconds give the steady rate.
   Meanwhile the queue is topped up to the depth every half second (bulk SQL again), so the
   depth holds. Each worker counts the time of its queue statements (`_timed_worker.py`):
   mean ms per claim-candidate SELECT, lease UPDATE and ack UPDATE over the window.
4. Table and index sizes before and after.

The bare pipelined client's rate (`bare_client.py`, no database) is measured against the
same proxy in the same run, before and after. The ratio rate(depth)/rate(first depth) is
printed per configuration: the target is ≥ 0.8 at 1M for one worker.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _carteiro import CarteiroStack
from _common import BENCH, SinkProcess
from _fill import analyze, engine_for, fill, forget_statistics, sizes
from _runners import run_client
from sqlalchemy import Engine, event, text

from carteiro.db.engine import Database
from carteiro.outbound import queue

STALE_SENT = 10_000
MARK = "ORDER BY emails.lane, emails.priority, emails.run_at, emails.id"
TOP_UP_EVERY = 0.5


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM emails WHERE status = 'pending'")).scalar_one()
        )


def _stale_statistics(engine: Engine, template: int) -> None:
    fill(engine, STALE_SENT, template_id=template, tag="stale")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE emails SET status = 'sent' WHERE id <> :id AND status = 'pending'"),
            {"id": template},
        )
    analyze(engine)


def explain_claim(url: str) -> list[dict[str, Any]]:
    """The claim's candidate statements as `queue.claim` sends them, each explained."""
    db = Database(url)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if MARK in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        session = db.sessions()
        try:
            queue.claim(session, worker_id="bench-explain", limit=50, lease_seconds=30)
        finally:
            session.rollback()
            session.close()
            event.remove(db.engine, "before_cursor_execute", record)
        out = []
        with db.engine.connect() as conn:
            for statement, parameters in seen:
                route = statement.split("AND", 3)[-1].split("ORDER BY")[0].strip()
                if db.engine.dialect.name == "postgresql":
                    started = time.perf_counter()
                    plan = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                    ).scalar_one()
                    wall = (time.perf_counter() - started) * 1000
                    conn.rollback()
                    plan = plan if isinstance(plan, list) else json.loads(plan)
                    nodes = list(_nodes(plan[0]["Plan"]))
                    shape = " > ".join(
                        n["Node Type"] + (f" {n['Index Name']}" if "Index Name" in n else "")
                        for n in nodes
                    )
                    top = plan[0]["Plan"]
                    blocks = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                    out.append(
                        {
                            "route": route,
                            "plan": shape,
                            "ms": plan[0]["Execution Time"],
                            "wall_ms": wall,
                            "rows": top.get("Actual Rows"),
                            "blocks": blocks,
                            "sort": any("Sort" in n["Node Type"] for n in nodes),
                        }
                    )
                else:
                    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                    started = time.perf_counter()
                    conn.exec_driver_sql(statement, parameters).all()
                    wall = (time.perf_counter() - started) * 1000
                    shape = " | ".join(str(r[-1]) for r in rows)
                    out.append(
                        {
                            "route": route,
                            "plan": shape,
                            "ms": wall,
                            "sort": "TEMP B-TREE" in shape,
                        }
                    )
        return out
    finally:
        db.dispose()


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _statements(log: Path) -> dict[str, list[float]]:
    try:
        return {k: list(v) for k, v in json.loads(log.read_text()).items()}
    except (OSError, ValueError):
        return {}


def _diff(after: dict[str, list[float]], before: dict[str, list[float]]) -> dict[str, Any]:
    out = {}
    for name, (count, total, _) in after.items():
        c0, t0 = before.get(name, [0, 0.0, 0.0])[:2]
        if count - c0:
            out[name] = {"count": int(count - c0), "mean_ms": (total - t0) / (count - c0)}
    return out


def measure(
    stack: CarteiroStack,
    engine: Engine,
    sink: SinkProcess,
    *,
    template: int,
    depth: int,
    workers: int,
    warmup: float,
    window: float,
) -> dict[str, Any]:
    deficit = depth - _pending(engine)
    if deficit > 0:
        fill(engine, deficit, template_id=template, tag=f"refill{time.monotonic_ns()}")
    sink.clear()
    logs = [Path(tempfile.mkstemp(prefix="bench-statements-", suffix=".json")[1]) for _ in "12"]
    procs = [stack.start_worker(statement_log=logs[i]) for i in range(workers)]
    topped = 0

    def top_up() -> int:
        nonlocal topped
        count = sink.stats()["count"]
        if count > topped:
            fill(engine, count - topped, template_id=template, tag=f"top{time.monotonic_ns()}")
            topped = count
        return count

    deadline = time.monotonic() + warmup
    while time.monotonic() < deadline:
        time.sleep(TOP_UP_EVERY)
        top_up()
    c0, t0 = top_up(), time.monotonic()
    s0 = [_statements(log) for log in logs[:workers]]
    deadline = t0 + window
    while time.monotonic() < deadline:
        time.sleep(TOP_UP_EVERY)
        c1 = top_up()
    c1, t1 = sink.stats()["count"], time.monotonic()
    time.sleep(1.1)  # one more dump of the statement counters
    s1 = [_statements(log) for log in logs[:workers]]
    alive = all(p.poll() is None for p in procs)
    stack.stop_workers()
    stack.workers.clear()
    merged: dict[str, dict[str, float]] = {}
    for after, before in zip(s1, s0, strict=True):
        for name, value in _diff(after, before).items():
            entry = merged.setdefault(name, {"count": 0, "total": 0.0})
            entry["count"] += value["count"]
            entry["total"] += value["count"] * value["mean_ms"]
    for log in logs:
        log.unlink(missing_ok=True)
    return {
        "rate": (c1 - c0) / (t1 - t0),
        "sent_in_window": c1 - c0,
        "alive": alive,
        "statements": {k: v["total"] / v["count"] for k, v in merged.items()},
        "counts": {k: v["count"] for k, v in merged.items()},
    }


def run_depth(
    db: str, depth: int, sink: SinkProcess, rtt: float, args: argparse.Namespace
) -> dict[str, Any]:
    with CarteiroStack(db=db, smtp_port=sink.ports[rtt], ca_file=sink.cert) as stack:
        (template,) = stack.enqueue(1)
        engine = engine_for(stack.database_url)
        try:
            _stale_statistics(engine, template)
            filled = fill(engine, depth - 1, template_id=template, tag="depth")
            print(
                f"  {db} {depth:,}: filled by bulk SQL in {filled:.1f}s "
                f"(stale statistics: ANALYZE ran with {STALE_SENT:,} sent, 0 pending)",
                flush=True,
            )
            result: dict[str, Any] = {"db": db, "depth": depth, "fill_s": filled}
            result["sizes_before"] = sizes(engine)
            result["explain"] = {"stale": explain_claim(stack.database_url)}
            runs = []
            for workers in args.workers:
                for repeat in range(args.repeat):
                    run = measure(
                        stack,
                        engine,
                        sink,
                        template=template,
                        depth=depth,
                        workers=workers,
                        warmup=args.warmup,
                        window=args.window,
                    )
                    run.update(workers=workers, repeat=repeat + 1)
                    print(
                        f"    x{workers} run {repeat + 1}: {run['rate']:,.0f} msg/s "
                        f"({run['sent_in_window']:,} in {args.window:g}s)",
                        flush=True,
                    )
                    runs.append(run)
            result["runs"] = runs
            analyze(engine)
            result["explain"]["fresh"] = explain_claim(stack.database_url)
            forget_statistics(engine)
            result["explain"]["none"] = explain_claim(stack.database_url)
            result["sizes_after"] = sizes(engine)
            return result
        finally:
            engine.dispose()


def bare(sink: SinkProcess, rtt: float, count: int) -> float:
    return float(run_client("bare_client.py", sink, rtt, count)["rate"])


def report(results: list[dict[str, Any]], bares: dict[str, list[float]], args: Any) -> None:
    for db in args.db:
        rows = [r for r in results if r["db"] == db]
        if not rows:
            continue
        print(
            f"\n== {db}: steady send rate (msg/s over a {args.window:g}s window "
            f"after {args.warmup:g}s warm-up; queue topped up to the depth) =="
        )
        print(f"bare pipelined client, same run: {', '.join(f'{b:,.0f}' for b in bares[db])}")
        head = f"{'depth':>9} {'workers':>7} {'msg/s (each run)':>22} {'ratio to first':>15}"
        print(head + f" {'x bare':>7} {'candidates ms':>13} {'lease ms':>9} {'ack ms':>7}")
        base: dict[int, float] = {}
        bare_mean = sum(bares[db]) / len(bares[db])
        for row in rows:
            for workers in args.workers:
                runs = [r for r in row["runs"] if r["workers"] == workers]
                if not runs:
                    continue
                rates = [r["rate"] for r in runs]
                mean = sum(rates) / len(rates)
                base.setdefault(workers, mean)
                st = [r["statements"] for r in runs]

                def ms(name: str, st: list[dict[str, float]] = st) -> str:
                    values = [s[name] for s in st if name in s]
                    return f"{sum(values) / len(values):.2f}" if values else "—"

                print(
                    f"{row['depth']:>9,} {workers:>7} "
                    f"{' / '.join(f'{r:,.0f}' for r in rates):>22} "
                    f"{mean / base[workers]:>15.2f} {mean / bare_mean:>7.2f} "
                    f"{ms('claim: candidates'):>13} {ms('claim: lease'):>9} "
                    f"{ms('ack: update'):>7}"
                )
        print(f"\n-- {db}: claim candidate statements, explained (per route) --")
        for row in rows:
            for state in ("stale", "fresh", "none"):
                for item in row["explain"].get(state, []):
                    extra = ""
                    if "rows" in item:
                        extra = f" rows {item['rows']} blocks {item['blocks']}"
                    print(
                        f"{row['depth']:>9,} {state:<6} {item['ms']:>7.3f} ms"
                        f"{' SORT' if item['sort'] else ''}{extra}  [{item['route'][:60]}]"
                        f"  {item['plan'][:140]}"
                    )
        print(f"\n-- {db}: sizes (MB), before the runs / after --")
        for row in rows:
            before, after = row["sizes_before"], row["sizes_after"]
            parts = [
                f"{name} {before[name]:,.1f}/{after.get(name, 0):,.1f}" for name in sorted(before)
            ]
            print(f"{row['depth']:>9,} fill {row['fill_s']:.0f}s  " + "  ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["postgresql", "sqlite"])
    parser.add_argument("--depths", help="comma-separated, e.g. 10000,100000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration")
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--window", type=float)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="10k and 100k, short windows")
    args = parser.parse_args()
    args.db = args.db or ["postgresql", "sqlite"]
    default_depths = "10000,100000" if args.quick else "10000,100000,500000,1000000"
    args.depths = [int(d) for d in (args.depths or default_depths).split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    args.warmup = args.warmup if args.warmup is not None else (3.0 if args.quick else 5.0)
    args.window = args.window if args.window is not None else (5.0 if args.quick else 10.0)
    results: list[dict[str, Any]] = []
    bares: dict[str, list[float]] = {}
    with SinkProcess([args.rtt_ms]) as sink:
        for db in args.db:
            print(f"\n{db}: bare client …", flush=True)
            bares[db] = [bare(sink, args.rtt_ms, 5000)]
            for depth in args.depths:
                results.append(run_depth(db, depth, sink, args.rtt_ms, args))
            bares[db].append(bare(sink, args.rtt_ms, 5000))
    report(results, bares, args)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"depth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "bare": bares, "results": results}, indent=1))
    print(f"\nsaved {path.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()

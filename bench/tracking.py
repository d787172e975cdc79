"""Tracking hits against a running `carteiro serve` (uvloop), beside a bare redirect endpoint.

    .venv/bin/python bench/tracking.py                 # SQLite and PostgreSQL, 20 s each
    .venv/bin/python bench/tracking.py --seconds 10 --sqlite-only
    .venv/bin/python bench/tracking.py --rewrite-only  # the per-message rewrite cost alone

Each contender is a real server process on loopback; the load comes from a separate client
process (a minimal HTTP/1.1 client on uvloop, `--connections` keep-alive connections, each request
a random message and link, a third of them the open pixel). Carteiro answers each hit from its
token cache and writes the hit after the reply (grouped into few transactions); the peer is a
Starlette app under the same uvicorn that answers 307 from a dict and writes nothing. Goal:
≥ 1,000 hits/s with p99 < 50 ms on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

import _common
import httpx
from _common import HttpConnection, free_port, wait_http

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
GOAL_RATE, GOAL_P99_MS = 1000.0, 50.0
LINKS = 4
NO_WORKER = ["--no-worker"] if os.environ.get("BENCH_NO_WORKER") else []
PARAGRAPH = (
    "Olá! Este é o relatório semanal da sua conta, com os pedidos, as entregas e as faturas em "
    "aberto. Confira os detalhes abaixo e responda se algo estiver errado."
)
HTML = (
    "<!doctype html><html><head><title>Novidades</title></head><body>"
    + "".join(
        f'<p>{PARAGRAPH} <a href="https://loja.example/produto/{i}?utm_source=news&amp;'
        f'utm_medium=email&amp;id={i}#detalhes">Ver oferta {i}</a></p>'
        for i in range(LINKS)
    )
    + '<p><a href="mailto:vendas@example.com">vendas</a></p></body></html>'
)
TEXT = "\n".join(f"{PARAGRAPH} https://loja.example/produto/{i}" for i in range(LINKS))


def percentile(values: list[float], share: float) -> float:
    found = _common.percentile(values, share)
    return float("nan") if found is None else found


# -- the load client (a process of its own) ------------------------------------------------


async def _get(connection: HttpConnection, path: str) -> int:
    return await connection.request("GET", path, {"User-Agent": BROWSER, "Accept": "*/*"})


async def _load(
    base: str, paths: list[str], seconds: float, connections: int, rate: float
) -> dict[str, Any]:
    """Closed loop (`rate` 0): each connection sends its next hit as soon as the last one is
    answered, the server's most. Open loop: hits are due at `rate` per second in all, and
    each one's latency counts from when it was due (a late server is not excused)."""
    latencies: list[float] = []
    errors = 0
    host, port = base.removeprefix("http://").split(":")
    pool = [HttpConnection(host, int(port)) for _ in range(connections)]
    # Warm up: connections open, Carteiro's token cache filled.
    warm = min(len(paths), int(os.environ.get("BENCH_WARM", connections * 8)))
    for start in range(0, warm, connections):
        await asyncio.gather(*(_get(c, p) for c, p in zip(pool, paths[start:], strict=False)))
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker(connection: HttpConnection, seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        sent = 0
        while time.perf_counter() < deadline:
            path = paths[rng.randrange(len(paths))]
            t0 = time.perf_counter()
            if rate:
                t0 = started + (sent * connections + seed) / rate
                sent += 1
                if t0 > time.perf_counter():
                    await asyncio.sleep(t0 - time.perf_counter())
            try:
                if await _get(connection, path) not in (200, 307):
                    errors += 1
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                connection.close()
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker(c, i) for i, c in enumerate(pool)))
    elapsed = time.perf_counter() - started
    return {
        "hits": len(latencies),
        "errors": errors,
        "rate": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    paths = json.loads(Path(args.paths).read_text())
    result = uvloop.run(_load(args.base, paths, args.seconds, args.connections, args.rate))
    print(json.dumps(result))


def run_client(
    base: str, paths: list[str], seconds: float, connections: int, rate: float = 0
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(paths, f)
    try:
        out = subprocess.run(
            [
                *(PY, __file__, "--client", "--base", base, "--paths", f.name),
                *("--seconds", str(seconds), "--connections", str(connections)),
                *("--rate", str(rate)),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    return dict(json.loads(out.strip().splitlines()[-1]))


# -- the peer: a bare redirect endpoint ------------------------------------------------------


def peer_main(args: argparse.Namespace) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Route

    urls = {str(i): f"https://loja.example/produto/{i}" for i in range(LINKS)}

    async def follow(request: Any) -> Response:
        link = request.path_params["link"]
        if link == "o.gif":
            return Response(b"GIF89a", media_type="image/gif")
        if link not in urls:
            return Response(status_code=404)
        return RedirectResponse(urls[link], status_code=307)

    app = Starlette(routes=[Route("/t/{token}/{link}", follow)])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


def run_peer(seconds: float, connections: int, rate: float) -> list[dict[str, Any]]:
    port = free_port()
    proc = subprocess.Popen([PY, __file__, "--peer", "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/t/x/0")
        paths = [f"/t/{uuid.uuid4().hex}/{i}" for _ in range(500) for i in range(LINKS)]
        paths += [p.rsplit("/", 1)[0] + "/o.gif" for p in paths[::2]]
        return [
            run_client(base, paths, seconds, connections),
            run_client(base, paths, seconds, connections, rate),
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


# -- Carteiro ---------------------------------------------------------------------------------


class Carteiro(_common.ServeProcess):
    """`carteiro serve` on a throwaway SQLite file or PostgreSQL database, with tracked mail.

    With its worker: the classification loop runs beside the hits, as in production. No
    account exists, so queued mail is captured and never leaves the machine."""

    def __init__(self, db: str) -> None:
        super().__init__(db, worker=not NO_WORKER)

    def tracked_paths(self, messages: int) -> list[str]:
        """Queues `messages` tracked messages through the API and returns their hit paths."""
        http = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=300
        )
        with http:
            for first in range(0, messages, 500):
                items = [
                    {
                        "to_email": f"cliente{i}@example.org",
                        "subject": "Novidades",
                        "body": TEXT,
                        "html_body": HTML,
                        "track": True,
                    }
                    for i in range(first, min(first + 500, messages))
                ]
                http.post("/emails/batch", json=items).raise_for_status()
            # The embedded worker captures the queued mail: let it finish first, so the hits
            # are measured beside the tracking loop only, not beside a send.
            deadline = time.monotonic() + (0 if NO_WORKER else 300)
            while time.monotonic() < deadline:
                counts = http.get("/queue/stats").json()["counts"]
                if not counts.get("pending") and not counts.get("sending"):
                    break
                time.sleep(0.5)
        from sqlalchemy import create_engine, text

        from carteiro.db.engine import normalise_url

        engine = create_engine(normalise_url(self.url))
        with engine.connect() as conn:
            tokens = [row[0] for row in conn.execute(text("SELECT token FROM tracked_messages"))]
        engine.dispose()
        paths = [f"/t/{t}/{i}" for t in tokens for i in range(LINKS)]
        return paths + [f"/t/{t}/o.gif" for t in tokens for _ in range(LINKS // 2)]

    def hits(self) -> int:
        from sqlalchemy import create_engine, text

        from carteiro.db.engine import normalise_url

        engine = create_engine(normalise_url(self.url))
        with engine.connect() as conn:
            count = int(conn.execute(text("SELECT count(*) FROM tracking_hits")).scalar_one())
        engine.dispose()
        return count


def run_carteiro(
    db: str, seconds: float, connections: int, messages: int, rate: float
) -> list[dict[str, Any]]:
    stack = Carteiro(db)
    try:
        paths = stack.tracked_paths(messages)
        results = []
        for phase_rate in (0.0, rate):
            before = stack.hits()
            result = run_client(stack.base, paths, seconds, connections, phase_rate)
            time.sleep(1.0)  # the last hits are written after their replies
            result["recorded"] = stack.hits() - before
            results.append(result)
        return results
    finally:
        stack.close()


# -- rewrite cost -----------------------------------------------------------------------------

_HREF = re.compile(r'href="(https?://[^"]+)"')


def rewrite_cost(number: int = 2000) -> dict[str, float]:
    """µs per message: Carteiro's parser-based rewrite vs a plain regex substitution."""
    from carteiro.config import Settings
    from carteiro.tracking import body

    settings = Settings(_env_file=None, public_url="https://mail.example.com")

    def ours() -> None:
        body.rewrite(settings, html_body=HTML, text_body=TEXT)

    def regex() -> None:
        urls: list[str] = []

        def sub(match: re.Match[str]) -> str:
            urls.append(match.group(1))
            return f'href="https://mail.example.com/t/TOKEN/{len(urls) - 1}"'

        _HREF.sub(sub, HTML)

    results = {}
    for name, fn in (("carteiro (html.parser)", ours), ("regex substitution", regex)):
        best = min(timeit.repeat(fn, number=number, repeat=5))
        results[name] = best / number * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--rate", type=float, default=GOAL_RATE, help="the open-loop phase's hits/s"
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--rewrite-only", action="store_true")
    # Internal: the load client and the peer run as processes of their own.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main(args)
    if args.peer:
        return peer_main(args)

    cost = rewrite_cost()
    print(f"Rewrite cost per message ({LINKS} links, text part, pixel), best of 5:")
    for name, us in cost.items():
        print(f"  {name:<24} {us:8.1f} µs")
    ours, regex = cost["carteiro (html.parser)"], cost["regex substitution"]
    print(f"  ratio carteiro / regex   {ours / regex:8.1f}x")
    if args.rewrite_only:
        return None

    print(
        f"\nTracking hits: {args.seconds:.0f} s per contender, {args.connections} connections, "
        f"{args.messages} tracked messages"
    )
    peer = run_peer(args.seconds, args.connections, args.rate)
    rows: list[tuple[str, list[dict[str, Any]]]] = [("bare starlette redirect (no db)", peer)]
    for db in ("sqlite",) if args.sqlite_only else ("sqlite", "postgresql"):
        result = run_carteiro(db, args.seconds, args.connections, args.messages, args.rate)
        rows.append((f"carteiro serve ({db})", result))
    header = f"{'contender':<34}{'load':>12}{'hits/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'errors':>8}{'recorded':>10}")
    for name, phases in rows:
        for load, r in zip(("closed loop", f"{args.rate:.0f}/s"), phases, strict=True):
            recorded = r.get("recorded", "-")
            print(
                f"{name:<34}{load:>12}{r['rate']:>9.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                f"{r['errors']:>8}{recorded!s:>10}"
            )
    for name, (most, paced) in rows[1:]:
        ok = most["rate"] >= GOAL_RATE and paced["p99_ms"] < GOAL_P99_MS
        print(
            f"{name}: {most['rate'] / peer[0]['rate']:.2f}x the bare redirect's most; at "
            f"{args.rate:.0f} hits/s p99 {paced['p99_ms']:.1f} ms vs the peer's "
            f"{peer[1]['p99_ms']:.1f} ms; goal ≥ {GOAL_RATE:.0f} hits/s with p99 < "
            f"{GOAL_P99_MS:.0f} ms: {'PASS' if ok else 'MISS'}"
        )
    return None


if __name__ == "__main__":
    main()

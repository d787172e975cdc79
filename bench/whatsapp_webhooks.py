"""WhatsApp status webhooks into a running `carteiro serve` (uvloop), beside a bare endpoint.

    .venv/bin/python bench/whatsapp_webhooks.py                  # SQLite and PostgreSQL
    .venv/bin/python bench/whatsapp_webhooks.py --db sqlite --posts 3000

Each contender is a real server process on loopback; the load comes from a process of its
own (the minimal HTTP/1.1 keep-alive client of `_common`, on uvloop, `--connections` at once,
each sending its next POST when the last is answered). Every POST is signed as Meta signs it
(`X-Hub-Signature-256: sha256=` HMAC-SHA256 of the raw body with the app secret). Two phases:
one `delivered` status per POST, then `--batch` statuses per POST (one entry each, as Meta
sometimes groups them). Carteiro runs with its worker, so the statuses are applied to the
dispatches (seeded as sent, one per status) while the POSTs arrive, as in production.

Printed per phase: POSTs and statuses answered 200 per second (each 200 means the body was
committed), p50/p99 latency, the server's CPU per POST; then for Carteiro the statuses
processed per second (first body received to last status applied) and the dispatches
confirmed (none may be missing). The peer is a Starlette endpoint under the same uvicorn that
checks the signature and appends the body to a list (no database); the ratio is ours / its.
Goal: >= 1,000 status events/s stored and processed on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _common import (
    PY,
    HttpConnection,
    ServeProcess,
    cpu_seconds,
    free_port,
    percentile,
    wait_http,
)

SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "5500000001"
GOAL = 1000.0


def sign(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def body(wamids: list[str], at: int) -> bytes:
    """One status per entry, as the Cloud API sends them (a batch: several entries)."""
    entries = [
        {
            "id": "WABA-1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "5511900000000",
                            "phone_number_id": PHONE_NUMBER_ID,
                        },
                        "statuses": [
                            {
                                "id": wamid,
                                "status": "delivered",
                                "timestamp": str(at),
                                "recipient_id": "5511900000000",
                                "pricing": {
                                    "billable": True,
                                    "pricing_model": "PMP",
                                    "category": "utility",
                                },
                            }
                        ],
                    },
                }
            ],
        }
        for wamid in wamids
    ]
    return json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()


# -- the load client (a process of its own) --------------------------------------------------


async def _load(base: str, path: str, bodies: list[bytes], connections: int) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    pool = [HttpConnection(host, int(port)) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in pool))
    requests = [
        (raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)})
        for raw in bodies
    ]
    latencies: list[float] = []
    errors = 0
    todo = iter(requests)

    async def worker(connection: HttpConnection) -> None:
        nonlocal errors
        for raw, headers in todo:
            t0 = time.perf_counter()
            try:
                if await connection.request("POST", path, headers, raw) != 200:
                    errors += 1
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                connection.close()
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    elapsed = time.perf_counter() - started
    return {
        "posts": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "p50_ms": (percentile(latencies, 0.50) or 0) * 1000,
        "p99_ms": (percentile(latencies, 0.99) or 0) * 1000,
    }


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    spec = json.loads(Path(args.spec).read_text())
    at = int(time.time())
    wamids, k = spec["wamids"], spec["batch"]
    bodies = [body(wamids[i : i + k], at) for i in range(0, len(wamids), k)]
    result = uvloop.run(_load(spec["base"], spec["path"], bodies, spec["connections"]))
    print(json.dumps(result))


def run_client(
    base: str, path: str, wamids: list[str], batch: int, connections: int
) -> dict[str, Any]:
    spec = {
        "base": base,
        "path": path,
        "wamids": wamids,
        "batch": batch,
        "connections": connections,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        out = subprocess.run(
            [PY, __file__, "--client", "--spec", f.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    return dict(json.loads(out.strip().splitlines()[-1]))


# -- the peer: a bare signed-webhook endpoint ------------------------------------------------


def peer_main(args: argparse.Namespace) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    stored: list[bytes] = []
    expected_secret = SECRET.encode()

    async def receive(request: Request) -> Response:
        raw = await request.body()
        header = request.headers.get("x-hub-signature-256")
        if not header:
            return Response(status_code=401)
        mac = "sha256=" + hmac.new(expected_secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, header):
            return Response(status_code=403)
        stored.append(raw)
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        return Response(str(len(stored)))

    app = Starlette(
        routes=[
            Route("/webhooks/whatsapp/cloud/{number_id}", receive, methods=["POST"]),
            Route("/health", health),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


def run_peer(phases: list[tuple[str, int, int]], connections: int) -> list[dict[str, Any]]:
    port = free_port()
    proc = subprocess.Popen([PY, __file__, "--peer", "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health")
        results = []
        for _, statuses, batch in phases:
            wamids = [f"wamid.peer{uuid.uuid4().hex}" for _ in range(statuses)]
            kept = int(httpx.get(base + "/health").text)
            before = cpu_seconds(proc.pid)
            r = run_client(base, "/webhooks/whatsapp/cloud/1", wamids, batch, connections)
            r["cpu_ms"] = (cpu_seconds(proc.pid) - before) / max(1, r["posts"]) * 1000
            r["stored"] = int(httpx.get(base + "/health").text) - kept
            results.append(r)
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


# -- Carteiro --------------------------------------------------------------------------------


def seed(stack: ServeProcess, count: int) -> tuple[int, list[str]]:
    """A Cloud API number (through the API) and `count` dispatches already sent through it
    (straight into the database: the sending is another benchmark's)."""
    from sqlalchemy import create_engine, insert

    from carteiro.db.engine import normalise_url
    from carteiro.db.types import utcnow
    from carteiro.dispatches.models import Disparo

    r = httpx.post(
        stack.base + "/whatsapp/numbers",
        headers={"Authorization": f"Bearer {stack.key}"},
        json={
            "name": "bench",
            "phone_number_id": PHONE_NUMBER_ID,
            "token": "tok",
            "app_secret": SECRET,
            "verify_token": "verify",
        },
        timeout=30,
    )
    r.raise_for_status()
    number_id = int(r.json()["id"])
    wamids = [f"wamid.bench{i:07d}{uuid.uuid4().hex[:12]}" for i in range(count)]
    now = utcnow()
    engine = create_engine(normalise_url(stack.url))
    with engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(
                insert(Disparo),
                [
                    {
                        "tenant_id": 1,
                        "canal": "whatsapp",
                        "destino": f"+55119{i:08d}",
                        "template": "aviso",
                        "payload": {},
                        "status": "enviado",
                        "data_agendado": now,
                        "run_at": now,
                        "data_envio": now,
                        "correlation": uuid.uuid4().hex,
                        "provider_message_id": wamids[i],
                        "whatsapp_number_id": number_id,
                        "sent_as": "template",
                    }
                    for i in range(start, min(start + 2000, count))
                ],
            )
    engine.dispose()
    return number_id, wamids


def _scalar(stack: ServeProcess, sql: str, **params: Any) -> Any:
    from sqlalchemy import create_engine, text

    from carteiro.db.engine import normalise_url

    engine = create_engine(normalise_url(stack.url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).one()
    finally:
        engine.dispose()


def processed(
    stack: ServeProcess, after_id: int, wamids: list[str], timeout: float
) -> dict[str, Any]:
    """Waits for the loop to apply every stored body past `after_id`; then the span from the
    first one received to the last one processed, and the dispatches confirmed."""
    from datetime import datetime

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (left,) = _scalar(
            stack,
            "SELECT count(*) FROM whatsapp_webhooks WHERE id > :a AND processed_at IS NULL",
            a=after_id,
        )
        if not left:
            break
        time.sleep(0.25)
    first, last, bodies = _scalar(
        stack,
        "SELECT min(received_at), max(processed_at), count(*) FROM whatsapp_webhooks WHERE id > :a",
        a=after_id,
    )

    def at(value: Any) -> float:
        if isinstance(value, str):  # SQLite hands the stored text back
            value = datetime.fromisoformat(value)
        return float(value.timestamp())

    (confirmed,) = _scalar(
        stack,
        "SELECT count(*) FROM disparos WHERE status = 'confirmado' "
        "AND provider_message_id >= :lo AND provider_message_id <= :hi",
        lo=min(wamids),
        hi=max(wamids),
    )
    span = at(last) - at(first) if first is not None and last is not None else float("nan")
    return {"bodies": bodies, "left": left, "span": span, "confirmed": confirmed}


def profile(pid: int, name: str) -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=DIR, py-spy samples the server while the POSTs arrive (raw stacks)."""
    folder = os.environ.get("BENCH_PYSPY")
    if not folder:
        return None
    out = Path(folder) / f"{name}.txt"
    spy = [str(Path(PY).parent / "py-spy"), "record", "-p", str(pid), "-r", "100", "--gil"]
    return subprocess.Popen([*spy, "--format", "raw", "-o", str(out)], stderr=subprocess.DEVNULL)


def run_carteiro(
    db: str, phases: list[tuple[str, int, int]], connections: int
) -> list[dict[str, Any]]:
    with ServeProcess(db) as stack:
        number_id, wamids = seed(stack, sum(n for _, n, _ in phases))
        path = f"/webhooks/whatsapp/cloud/{number_id}"
        results, used = [], 0
        for _, statuses, batch in phases:
            mine = wamids[used : used + statuses]
            used += statuses
            (after_id,) = _scalar(stack, "SELECT coalesce(max(id), 0) FROM whatsapp_webhooks")
            before = cpu_seconds(stack.proc.pid)
            spy = profile(stack.proc.pid, f"{db}-{batch}")
            r = run_client(stack.base, path, mine, batch, connections)
            r["cpu_ms"] = (cpu_seconds(stack.proc.pid) - before) / max(1, r["posts"]) * 1000
            r.update(processed(stack, after_id, mine, timeout=300))
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            # Until the last status is applied: the processing that trails the POSTs included.
            r["cpu_status_ms"] = (cpu_seconds(stack.proc.pid) - before) / statuses * 1000
            r["stored"] = r["bodies"]
            results.append(r)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--posts", type=int, default=3000, help="POSTs per phase")
    parser.add_argument("--batch", type=int, default=10, help="statuses per POST, batched phase")
    parser.add_argument("--connections", type=int, default=32)
    # Internal: the load client and the peer run as processes of their own.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main(args)
    if args.peer:
        return peer_main(args)

    phases = [
        ("1 per POST", args.posts, 1),
        (f"{args.batch} per POST", args.posts * args.batch, args.batch),
    ]
    print(
        f"Status webhooks: {args.posts} POSTs per phase, {args.connections} connections; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[tuple[str, list[dict[str, Any]]]] = [
        ("bare starlette (no db)", run_peer(phases, args.connections))
    ]
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        rows.append((f"carteiro serve ({db})", run_carteiro(db, phases, args.connections)))
    print(
        f"{'contender':<26}{'phase':>12}{'POST/s':>9}{'status/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU ms/POST':>12}{'errors':>7}{'stored':>8}{'processed/s':>12}{'confirmed':>10}"
        f"{'CPU ms/status':>14}"
    )
    for name, results in rows:
        for (phase, statuses, batch), r in zip(phases, results, strict=True):
            rate = r["posts"] / r["seconds"]
            done = f"{statuses / r['span']:.0f}" if "span" in r else "-"
            confirmed = f"{r['confirmed']}" if "confirmed" in r else "-"
            whole = f"{r['cpu_status_ms']:.2f}" if "cpu_status_ms" in r else "-"
            print(
                f"{name:<26}{phase:>12}{rate:>9.0f}{rate * batch:>10.0f}{r['p50_ms']:>8.1f}"
                f"{r['p99_ms']:>8.1f}{r['cpu_ms']:>12.2f}{r['errors']:>7}{r['stored']:>8}"
                f"{done:>12}{confirmed:>10}{whole:>14}"
            )
    peer = rows[0][1]
    for name, results in rows[1:]:
        for (phase, statuses, batch), r, p in zip(phases, results, peer, strict=True):
            stored = r["posts"] / r["seconds"] * batch
            done = statuses / r["span"]
            ok = stored >= GOAL and done >= GOAL and r["confirmed"] == statuses and not r["errors"]
            print(
                f"{name}, {phase}: {r['posts'] / r['seconds'] / (p['posts'] / p['seconds']):.2f}x "
                f"the bare endpoint's POSTs/s; {stored:.0f} statuses/s stored, {done:.0f}/s "
                f"processed, {statuses - r['confirmed']} not confirmed; goal >= {GOAL:.0f}/s "
                f"both: {'PASS' if ok else 'MISS'}"
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return None


if __name__ == "__main__":
    main()

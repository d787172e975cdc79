"""Carteiro as a user runs it: `carteiro serve --no-worker` plus `carteiro worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BENCH,
    HTML_BODY,
    PASSWORD,
    PG_ADMIN_URL,
    PY,
    ROOT,
    SUBJECT,
    TEXT_BODY,
    USER,
    RssSampler,
    free_port,
    percentile,
    recipient,
)

CARTEIRO = str(ROOT / ".venv" / "bin" / "carteiro")
BATCH = 1000


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


class CarteiroStack:
    """A throwaway Carteiro (SQLite file or a fresh PostgreSQL database) with one account."""

    def __init__(
        self,
        *,
        db: str,
        smtp_port: int,
        ca_file: str,
        max_connections: int = 50,
        env: dict[str, str] | None = None,
        dkim: bool = False,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="carteiro-bench-"))
        self.db = db
        self.pg_name: str | None = None
        if db == "postgresql":
            import psycopg

            self.pg_name = f"carteiro_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            url = f"sqlite:///{self.tmp / 'carteiro.db'}"
        self.database_url = url
        self.port = free_port()
        self.env = {
            **os.environ,
            "CARTEIRO_DATABASE_URL": url,
            "CARTEIRO_DATA_DIR": str(self.tmp / "data"),
            "CARTEIRO_PORT": str(self.port),
            "CARTEIRO_SECRET_KEY": "bench-secret-key",
            "CARTEIRO_LOG_LEVEL": "WARNING",
            "EMAIL_RATE_LIMIT_PER_HOUR": "0",
            **(env or {}),
        }
        for name in ("CARTEIRO_API_KEY", "GMAIL_EMAIL", "GMAIL_APP_PASSWORD"):
            self.env.pop(name, None)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.rss = RssSampler()
        self.server = subprocess.Popen(
            [CARTEIRO, "serve", "--no-worker", "--port", str(self.port)],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=open(self.tmp / "serve.log", "wb"),  # noqa: SIM115
        )
        self.http: httpx.Client | None = None
        try:
            self.key = self._read_key()
            self.http = httpx.Client(
                base_url=f"http://127.0.0.1:{self.port}",
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=300,
            )
            self._wait_ready()
            reply = self.http.post(
                "/accounts",
                json={
                    "name": "bench",
                    "email": "remetente@example.com",
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "starttls",
                        "username": USER,
                        "password": PASSWORD,
                        "ca_file": ca_file,
                    },
                    "limits": {"max_connections": max_connections},
                },
            )
            reply.raise_for_status()
            if dkim:
                # Every message is then DKIM-signed when it is queued.
                self.http.post("/dkim/keys", json={"domain": "example.com"}).raise_for_status()
        except BaseException:
            self.close()
            raise
        self.rss.__enter__()

    def _read_key(self) -> str:
        assert self.server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.server.stdout.readline().decode()
            if line.startswith("API key: "):
                return line.split(": ", 1)[1].strip()
            if not line and self.server.poll() is not None:
                break
        raise RuntimeError(f"carteiro serve did not start; see {self.tmp / 'serve.log'}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                # /queue/stats, not /health: it needs the key and the database, and nothing more.
                reply = self.http.get("/queue/stats")
                if reply.status_code == 200:
                    return
                body = reply.text[:300]
            except httpx.HTTPError as exc:
                body = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"carteiro serve is not answering: {body}")

    # -- workers ------------------------------------------------------------------------

    def start_worker(self, statement_log: Path | None = None) -> subprocess.Popen[bytes]:
        """A `carteiro worker`; with `statement_log`, one that counts the time of its queue
        statements into that file (`_timed_worker.py`)."""
        index = len(self.workers)
        cmd, env = [CARTEIRO, "worker"], self.env
        if statement_log is not None:
            cmd = [PY, str(BENCH / "_timed_worker.py")]
            env = {**self.env, "BENCH_STATEMENT_LOG": str(statement_log)}
        proc = subprocess.Popen(
            cmd,
            cwd=self.tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / f"worker{index}.log", "ab"),  # noqa: SIM115
        )
        self.workers.append(proc)
        self.rss.watch(proc.pid)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -- API ----------------------------------------------------------------------------

    def enqueue(self, count: int, start: int = 0, batch: int = BATCH) -> list[int]:
        ids: list[int] = []
        for first in range(start, start + count, batch):
            items = [
                {
                    "to_email": recipient(i),
                    "subject": SUBJECT,
                    "body": TEXT_BODY,
                    "html_body": HTML_BODY,
                    "account": "bench",
                }
                for i in range(first, min(first + batch, start + count))
            ]
            reply = self.http.post("/emails/batch", json=items)
            reply.raise_for_status()
            ids += reply.json()["ids"]
        return ids

    def counts(self) -> dict[str, int]:
        reply = self.http.get("/queue/stats")
        reply.raise_for_status()
        return reply.json()["counts"]

    def wait_done(self, total: int, timeout: float, final: tuple[str, ...] = ("sent",)) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                counts = self.counts()
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if sum(counts.get(s, 0) for s in final) >= total:
                return True
            time.sleep(0.25)
        return False

    def emails(self, status: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": 500, "offset": offset}
            if status:
                params["status"] = status
            page = self.http.get("/emails", params=params).json()
            rows += page["items"]
            offset += 500
            if offset >= page["total"]:
                return rows

    def latency(self) -> dict[str, float | None]:
        """messages/s from first enqueue to last `sent`, and enqueue→sent percentiles."""
        sent = self.emails("sent")
        if not sent:
            return {"rate": 0.0, "p50": None, "p99": None, "sent": 0}
        created = [_parse(e["created_at"]) for e in sent]
        done = [_parse(e["sent_at"]) for e in sent]
        span = (max(done) - min(created)).total_seconds()
        enqueue_span = (max(created) - min(created)).total_seconds()
        send_span = (max(done) - min(done)).total_seconds()
        waits = [(d - c).total_seconds() for c, d in zip(created, done, strict=True)]
        # The steady rate: the middle 80% of the messages over the time they took to be sent,
        # without the workers' start and the last connections' tail.
        ordered = sorted(done)
        lo, hi = int(0.1 * len(ordered)), int(0.9 * len(ordered)) - 1
        middle = (ordered[hi] - ordered[lo]).total_seconds() if hi > lo else 0.0
        return {
            "rate": len(sent) / span if span > 0 else 0.0,
            "p50": percentile(waits, 0.50),
            "p99": percentile(waits, 0.99),
            "sent": len(sent),
            # Where the time goes: the API's enqueue rate and the workers' send rate.
            "enqueue_rate": len(sent) / enqueue_span if enqueue_span > 0 else None,
            "send_rate": len(sent) / send_span if send_span > 0 else None,
            "steady_rate": (hi - lo) / middle if middle > 0 else None,
        }

    def close(self) -> None:
        if self.rss._thread.is_alive():
            self.rss.__exit__()
        self.stop_workers()
        if self.http is not None:
            self.http.close()
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(20)
        except subprocess.TimeoutExpired:
            self.server.kill()
        if self.pg_name is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> CarteiroStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_carteiro(
    *,
    sink: Any,
    rtt: float,
    db: str,
    workers: int,
    count: int,
    timeout: float = 150,
    dkim: bool = False,
    prefill: bool = False,
) -> dict[str, Any]:
    """One end-to-end run; returns rate, latency percentiles, peak worker RSS, sink checks.

    With `prefill` every message is queued through the API before the workers start, as
    post-office is measured: the rate is then the workers' drain rate, first to last sent."""
    sink.clear()
    with CarteiroStack(db=db, smtp_port=sink.ports[rtt], ca_file=sink.cert, dkim=dkim) as stack:
        if prefill:
            stack.enqueue(count)
        for _ in range(workers):
            stack.start_worker()
        if not prefill:
            time.sleep(2.0)  # let the workers import and connect before the clock starts
            stack.enqueue(count)
        finished = stack.wait_done(count, timeout)
        result: dict[str, Any] = {**stack.latency(), "finished": finished}
        if prefill:
            # Enqueue→sent latency would mostly measure the wait for the workers to start.
            result.update(rate=result.get("send_rate") or 0.0, p50=None, p99=None)
        result["rss_mb"] = stack.rss.max_mb()
        ids = sink.message_ids()
        result["duplicates"] = len(ids) - len(set(ids))
        result["counts"] = stack.counts()
        return result

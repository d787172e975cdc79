"""Runs each contender of the dispatch bench as a subprocess and measures it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from _common import BENCH, PY, RssSampler, SinkProcess, ensure_peers


def measured(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float
) -> tuple[str, float, float]:
    """Run `cmd`; return (stdout, wall seconds, peak RSS in MB)."""
    started = time.perf_counter()
    with RssSampler(interval=0.1) as rss:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        rss.watch(proc.pid)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n(killed after {timeout:.0f}s)"
        rss.sample()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed: {err[-2000:]}")
    return out, seconds, rss.max_mb()


def _json_line(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


def run_client(
    script: str, sink: SinkProcess, rtt: float, count: int, *extra: str, timeout: float = 180
) -> dict[str, Any]:
    """bare_client.py, seed_client.py or smtp_client.py against the proxy for `rtt`."""
    sink.clear()
    cmd = [PY, str(BENCH / script), "--port", str(sink.ports[rtt]), "--cafile", sink.cert]
    out, _, rss = measured([*cmd, "-n", str(count), *extra], timeout=timeout)
    result = _json_line(out)
    ids = sink.message_ids()
    result.update(rss_mb=rss, received=len(ids), duplicates=len(ids) - len(set(ids)))
    return result


def run_post_office(
    sink: SinkProcess, rtt: float, count: int, *, tuned: bool, timeout: float = 180
) -> dict[str, Any]:
    """Queue `count` messages, then time `send_queued_mail` until the queue is empty."""
    python = str(ensure_peers())
    sink.clear()
    workdir = tempfile.mkdtemp(prefix="post-office-bench-")
    env = {**os.environ, "SSL_CERT_FILE": sink.cert, "PYTHONPATH": workdir}
    env["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    client = str(BENCH / "post_office_client.py")
    try:
        setup = [python, client, "setup", "--dir", workdir, "--port", str(sink.ports[rtt])]
        subprocess.run(setup + (["--tuned"] if tuned else []), check=True, env=env)
        queue = [python, client, "queue", "--dir", workdir, "-n", str(count)]
        subprocess.run(queue, check=True, env=env)
        _, seconds, rss = measured(
            [python, "-m", "django", "send_queued_mail"], env=env, cwd=workdir, timeout=timeout
        )
        counted = subprocess.run(
            [python, client, "count", "--dir", workdir],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        statuses = _json_line(counted)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sent = statuses.get("sent", 0)
    ids = sink.message_ids()
    return {
        "sent": sent,
        "seconds": seconds,
        "rate": sent / seconds,
        "rss_mb": rss,
        "statuses": statuses,
        "received": len(ids),
        "duplicates": len(ids) - len(set(ids)),
    }

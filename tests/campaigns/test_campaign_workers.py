"""Real `carteiro worker` processes run a campaign; one is killed with SIGKILL mid-campaign:
no ledger row is skipped or lost, and duplicates stay within what was in flight."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from campkit import add_leads, campaign, ledger, make_campaign, schedule

from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.smtp_server import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
CONCURRENCY = 10


def start_worker(runtime: Runtime, cwd: Path) -> subprocess.Popen[bytes]:
    s = runtime.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))},
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "CARTEIRO_POLL_INTERVAL": "0.1",
        "CARTEIRO_CAMPAIGN_POLL_INTERVAL": "0.2",
        "CARTEIRO_CAMPAIGN_BATCH_MAX": "200",
        "CARTEIRO_LEASE_SECONDS": "2",
        "EMAIL_RATE_LIMIT_PER_HOUR": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "carteiro", "worker", "--concurrency", str(CONCURRENCY)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(cwd / f"worker-{time.monotonic_ns()}.log", "wb"),
    )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_sigkill_mid_campaign_loses_nothing(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int, tmp_path: Path
) -> None:
    n = 1200
    add_leads(runtime, principal.tenant_id, [{"email": f"l{i}@lista.com"} for i in range(n)])
    cid = make_campaign(runtime, principal, pool_share=1.0)
    schedule(runtime, principal, cid, override_dns=True)
    sink.delay_seconds = 0.003
    victim = start_worker(runtime, tmp_path)
    survivor = start_worker(runtime, tmp_path)
    restarted = None
    try:
        deadline = time.monotonic() + 120
        while len(sink.messages) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sink.messages) >= 200, "the campaign did not start sending"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        restarted = start_worker(runtime, tmp_path)
        deadline = time.monotonic() + 240
        while campaign(runtime, cid).status != "finished" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        codes = [stop(survivor)] + ([stop(restarted)] if restarted else [])
    c = campaign(runtime, cid)
    assert c.status == "finished", (c.status, c.sent, c.queued)
    rows = ledger(runtime, cid)
    assert len(rows) == n and {r.status for r in rows} == {"sent"}, "a ledger row was skipped"
    assert c.sent == n and c.queued == n
    arrived = collections.Counter(m.rcpt_tos[0] for m in sink.messages)
    assert set(arrived) == {r.address for r in rows}, "a recipient was lost"
    duplicates = sum(v - 1 for v in arrived.values())
    # Only what the killed worker had claimed (in flight) may be delivered twice.
    assert duplicates <= CONCURRENCY + runtime.settings.email_batch_size
    print(f"duplicates after SIGKILL: {duplicates}")
    assert codes == [0] * len(codes)

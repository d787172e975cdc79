"""Real `carteiro worker` processes draft every reply once, and kill -9 loses no job."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carteiro.inbound.models import InboxMessage
from carteiro.inbound.schemas import SyncReport
from carteiro.outbound.models import Email
from carteiro.responder.models import ResponderJob
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import mail

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

JOBS = 24


def start_worker(runtime: Runtime, cwd: Path) -> subprocess.Popen[bytes]:
    s = runtime.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))},
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "CARTEIRO_POLL_INTERVAL": "0.1",
        "CARTEIRO_LEASE_SECONDS": "2",
        "EMAIL_RATE_LIMIT_PER_HOUR": "0",
        "CARTEIRO_LLM_PROVIDER": "carteiro.testing.fake_llm:from_env",
        "CARTEIRO_FAKE_LLM_LATENCY": "0.3",
        "CARTEIRO_LLM_TIMEOUT_SECONDS": "2",
        "CARTEIRO_RESPONDER_BATCH_SIZE": "4",
        "CARTEIRO_RESPONDER_CONCURRENCY": "2",
        "CARTEIRO_RESPONDER_POLL_INTERVAL": "0.1",
        "CARTEIRO_RESPONDER_TOKENS_PER_MINUTE": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "carteiro", "worker"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(cwd / f"worker-{time.monotonic_ns()}.log", "wb"),
    )


def statuses(runtime: Runtime) -> collections.Counter[str]:
    with runtime.db.session() as session:
        return collections.Counter(session.scalars(select(ResponderJob.status)))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_kill_9_mid_batch_loses_no_job_and_answers_each_once(
    runtime: Runtime,
    make_principal: Callable[..., Principal],
    ai_rule: Callable[..., int],
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    tmp_path: Path,
) -> None:
    ai_rule(make_principal(), mode="review")
    for i in range(JOBS):
        dovecot.append("INBOX", mail(subject=f"Pedido {i}", sender=f"c{i}@cliente.com.br"))
    sync()
    assert statuses(runtime) == {"pending": JOBS}
    first, second = start_worker(runtime, tmp_path), start_worker(runtime, tmp_path)
    try:
        wait_for(lambda: statuses(runtime)["completed"] >= 4, 90, "the first replies")
        # Mid-batch: it holds leased jobs, some with a model call in flight.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_for(lambda: statuses(runtime)["completed"] == JOBS, 120, "every job to complete")
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    with runtime.db.session() as session:
        per_message = collections.Counter(
            session.scalars(
                select(InboxMessage.reply_to_message_id).where(InboxMessage.direction == "out")
            )
        )
        held = session.scalar(select(func.count(Email.id)).where(Email.status == "held"))
        linked = set(session.scalars(select(ResponderJob.email_id)))
    # Exactly one reply per incoming message, each held for review and linked to its job.
    assert len(per_message) == JOBS and set(per_message.values()) == {1}
    assert held == JOBS and len(linked) == JOBS and None not in linked

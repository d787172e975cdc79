"""On PostgreSQL, mail created by another process wakes an idle worker through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from carteiro.outbound.worker import Dispatcher
from carteiro.runtime import Runtime
from carteiro.testing.runs import email_status

ENQUEUE = """
import sys
from carteiro.config import Settings
from carteiro.outbound import service
from carteiro.outbound.schemas import EmailCreate
from carteiro import wiring
rt = wiring.runtime(Settings(_env_file=None, database_url=sys.argv[1], data_dir=sys.argv[2],
                              secret_key="x", email_rate_limit_per_hour=0))
p = rt.authenticate(sys.argv[3])
with rt.db.session() as s:
    e, _ = service.create(s, principal=p, settings=rt.settings,
                          data=EmailCreate(to_email="a@example.com", subject="s", body="b"))
    print(e.id)
"""


async def test_notify_wakes_a_worker_that_polls_rarely(runtime: Runtime, api_key: str) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is a PostgreSQL feature; SQLite workers poll")
    runtime.settings = runtime.settings.model_copy(update={"poll_interval": 600})
    dispatcher = Dispatcher.from_runtime(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.sleep(1.0)  # the first (empty) claim has run; now it waits ~10 minutes
        s = runtime.settings
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", ENQUEUE, s.database_url, str(s.data_dir), api_key],
            capture_output=True,
            text=True,
            check=True,
        )
        email_id = int(out.stdout.strip())
        for _ in range(200):
            if await asyncio.to_thread(email_status, runtime, email_id) == "sent":
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(email_status, runtime, email_id) == "sent"
    finally:
        stop.set()
        await task

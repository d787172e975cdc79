"""`carteiro serve` stopped with SIGTERM while signed WhatsApp webhooks pour in: every body it
answered 200 is in the database, and a worker started afterwards applies each of them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from e2ekit import Process, child_env, free_port, private_database, wait_until
from sqlalchemy import create_engine, text

from carteiro.db.engine import normalise_url
from carteiro.testing.fake_whatsapp import FakeCloudApi

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PHONE_NUMBER_ID = "5500000002"
BODIES = 3000


def _wa_id(i: int) -> str:
    return f"55119{i:08d}"


class Load:
    """POSTs the bodies over a few keep-alive connections until the server goes away; keeps
    the index of every one answered 200."""

    def __init__(self, url: str, fake: FakeCloudApi) -> None:
        self.url, self.fake = url, fake
        self.answered: set[int] = set()
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)

    async def _run(self) -> None:
        todo = iter(range(BODIES))
        async with httpx.AsyncClient(timeout=30) as client:

            async def one_connection() -> None:
                for i in todo:
                    raw = self.fake.inbound_webhook(PHONE_NUMBER_ID, _wa_id(i), f"oi {i}")
                    headers = {"X-Hub-Signature-256": self.fake.signature(raw)}
                    try:
                        r = await client.post(self.url, content=raw, headers=headers)
                    except httpx.TransportError:
                        return  # the server stopped: this one was never acknowledged
                    if r.status_code == 200:
                        self.answered.add(i)

            await asyncio.gather(*(one_connection() for _ in range(8)))


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _scalar(database_url: str, sql: str) -> int:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _stored(database_url: str) -> set[str]:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            raws = conn.execute(text("SELECT raw FROM whatsapp_webhooks")).scalars()
            return {bytes(raw).decode() for raw in raws}
    finally:
        engine.dispose()


def test_a_graceful_shutdown_keeps_every_acknowledged_webhook(tmp_path: Path) -> None:
    fake = FakeCloudApi(app_secret="s3cret")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with private_database(tmp_path) as database_url:
        env = child_env(database_url, tmp_path / "data")
        env["CARTEIRO_DISPATCH_POLL_INTERVAL"] = "0.1"
        port = free_port()
        serve = Process(["serve", "--no-worker", "--port", str(port)], env=env, cwd=cwd)
        worker = None
        try:
            key = serve.wait_for_line("API key: ").removeprefix("API key: ")
            serve.wait_for_line("Carteiro listening on ")
            # The line comes just before uvicorn binds its socket.
            wait_until(lambda: _healthy(port), 30, "serve to answer /health")
            number = httpx.post(
                f"http://127.0.0.1:{port}/whatsapp/numbers",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "name": "cobranca",
                    "phone_number_id": PHONE_NUMBER_ID,
                    "token": "tok",
                    "app_secret": "s3cret",
                    "verify_token": "v",
                },
                timeout=30,
            )
            assert number.status_code == 201, number.text
            url = f"http://127.0.0.1:{port}/webhooks/whatsapp/cloud/{number.json()['id']}"
            load = Load(url, fake)
            load.thread.start()
            wait_until(lambda: len(load.answered) >= 200, 60, "200 webhooks answered")
            assert serve.stop() == 0, serve.output()
            load.thread.join(timeout=60)
            assert 200 <= len(load.answered) < BODIES, "the load ended before the shutdown"

            stored = _stored(database_url)
            everything = "".join(stored)
            missing = [i for i in load.answered if f'"{_wa_id(i)}"' not in everything]
            assert missing == []  # a 200 means the body was committed
            worker = Process(["worker"], env=env, cwd=cwd)
            wait_until(
                lambda: (
                    not _scalar(
                        database_url,
                        "SELECT count(*) FROM whatsapp_webhooks WHERE processed_at IS NULL",
                    )
                ),
                120,
                "every stored webhook to be processed",
            )
            inbound = _scalar(database_url, "SELECT count(DISTINCT wa_id) FROM whatsapp_inbound")
            assert inbound == len(stored) >= len(load.answered)
        finally:
            for p in (worker, serve):
                if p is not None:
                    p.close()

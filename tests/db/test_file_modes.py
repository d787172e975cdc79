"""The data directory, the SQLite file with its WAL/SHM, captured mail and stored inbox files
are owner-only, whatever the umask and whatever an older version left behind."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from carteiro import wiring
from carteiro.config import Settings
from carteiro.db import migrate
from carteiro.inbound.storage import BlobStore
from carteiro.mail.transports.capture import CaptureTransport


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def local_settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{data_dir / 'carteiro.db'}",
        data_dir=data_dir,
        secret_key=None,
        api_key=None,
    )


def test_a_new_data_dir_and_database_are_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    runtime = wiring.runtime(local_settings(data_dir))
    try:
        migrate.upgrade(runtime.db.engine)
        runtime.bootstrap()
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            db = data_dir / "carteiro.db"
            assert (db.parent / "carteiro.db-wal").exists()
            assert mode(data_dir) == 0o700
            for name in ("carteiro.db", "carteiro.db-wal", "carteiro.db-shm", "secret.key"):
                assert mode(data_dir / name) == 0o600, name
    finally:
        runtime.db.dispose()


def test_an_existing_loose_data_dir_is_tightened_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    for name in ("carteiro.db", "carteiro.db-wal", "carteiro.db-shm"):
        (data_dir / name).touch(mode=0o644)
    (data_dir / "carteiro.db").unlink()
    runtime = wiring.runtime(local_settings(data_dir))
    try:
        migrate.upgrade(runtime.db.engine)
        assert mode(data_dir) == 0o700
        for name in ("carteiro.db", "carteiro.db-wal", "carteiro.db-shm"):
            assert mode(data_dir / name) == 0o600, name
    finally:
        runtime.db.dispose()


def test_captured_and_stored_mail_is_owner_only(tmp_path: Path) -> None:
    captured = tmp_path / "captured"
    raw = b"Message-ID: <a@b>\r\nSubject: s\r\n\r\nbody\r\n"
    asyncio.run(CaptureTransport(captured).send(sender="a@b.c", recipients=["x@y.z"], raw=raw))
    (eml,) = captured.iterdir()
    assert mode(captured) == 0o700 and mode(eml) == 0o600

    store = BlobStore(tmp_path / "inbox")
    stored = store.put(raw, kind="raw", compress=True)
    path = store.root / stored.key
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700

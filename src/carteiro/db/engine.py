"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from carteiro.db import textfold
from carteiro.files import FILE_MODE, private_dir, tighten


def normalise_url(url: str) -> str:
    """Map the plain `postgresql://` users write to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _private_database(path: Path) -> None:
    """Mail, keys and hashed secrets live in the file: owner-only, with its WAL and SHM
    (SQLite gives those the main file's mode when it creates them)."""
    if not path.parent.exists():
        private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level so the "begin" hook below decides how transactions start.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred read-then-write transaction
    # would fail with SQLITE_BUSY instead of waiting when another process writes. A
    # connection marked `read_only` never writes: deferred, it reads the last commit (WAL)
    # without waiting for the writer.
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "carteiro_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = None
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).expanduser()
            _private_database(path)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", textfold.register_sqlite)
        if path is not None:
            # WAL and SHM files left by an older version keep their mode: check once more
            # after each connection has switched to WAL.
            event.listen(engine, "connect", lambda *_: _private_database(path))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def ping(bind: Session | Connection) -> None:
    """A round trip to the server; raises when the database does not answer."""
    bind.execute(text("SELECT 1"))


class Database:
    """An engine and its session factory; `session()` commits on success, rolls back on error."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it takes no write lock, so a lookup on a hot
        path never queues behind a writer. Writing through it is a mistake (it would fail
        with SQLITE_BUSY under contention); it is rolled back at the end."""
        with self.engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            with Session(bind=conn) as session:
                try:
                    yield session
                finally:
                    session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()

"""The migrations produce exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from carteiro.db import migrate
from carteiro.db.engine import Database
from carteiro.db.models import Base


def test_upgrade_head_matches_models(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        assert migrate.is_up_to_date(db.engine)
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": migrate.include_name}
            )
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        migrate.upgrade(db.engine)
        assert migrate.is_up_to_date(db.engine)
    finally:
        db.dispose()


def test_message_bodies_are_compressed_with_lz4_on_postgresql(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        if db.dialect != "postgresql":
            pytest.skip("column compression is PostgreSQL's")
        with db.engine.connect() as conn:
            available = conn.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            ).scalar()
            methods = dict(
                conn.exec_driver_sql(
                    "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = "
                    "'emails'::regclass AND attname IN ('raw', 'body', 'html_body')"
                ).all()
            )
        expected = "l" if available else ""
        assert methods == {"raw": expected, "body": expected, "html_body": expected}
    finally:
        db.dispose()

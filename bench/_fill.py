"""Deep queues in seconds: copies of one queued row made by bulk SQL, not through the API."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, text

from carteiro.outbound.models import Email

# Columns copied as they are from the template row; the rest are rewritten per copy.
_REWRITTEN = {"id", "message_id", "to_email", "to_emails", "raw", "created_at", "updated_at"}
CHUNK = 50_000
# A copy is queued afresh whatever became of the template.
_FRESH = {
    "status": "'pending'",
    "attempts": "0",
    "retry_count": "0",
    "lease_owner": "NULL",
    "lease_until": "NULL",
    "sent_at": "NULL",
    "error_message": "NULL",
    "error_type": "NULL",
    "last_code": "NULL",
    "idempotency_key": "NULL",
}


def engine_for(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def fill(
    engine: Engine, count: int, *, template_id: int, tag: str, priority: int | None = None
) -> float:
    """Inserts `count` copies of email `template_id`, each with its own Message-ID (in the
    row and in the raw bytes) and recipient; returns the seconds it took. `priority`
    overrides the template's (e.g. 3, low, for ballast behind the mail under test)."""
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        old = conn.execute(
            text("SELECT message_id FROM emails WHERE id = :id"), {"id": template_id}
        ).scalar_one()
        base = conn.execute(text("SELECT coalesce(max(id), 0) FROM emails")).scalar_one()
    # Without its angle brackets: the raw header holds the same text.
    bare = old.strip("<>")
    cols = [c.name for c in Email.__table__.columns if c.name not in _REWRITTEN]
    for first in range(0, count, CHUNK):
        n = min(CHUNK, count - first)
        new_id = f"'{tag}.' || (s.n + {base + first}) || '@bench.example.com'"
        if postgres:
            raw = f"convert_to(replace(convert_from(e.raw, 'UTF8'), :bare, {new_id}), 'UTF8')"
        else:
            raw = f"CAST(replace(CAST(e.raw AS TEXT), :bare, {new_id}) AS BLOB)"
        to = f"'depth' || (s.n + {base + first}) || '@example.org'"
        to_list = f"'[\"' || {to} || '\"]'"
        if postgres:
            to_list = f"({to_list})::json"
        fixed = {**_FRESH, **({"priority": str(priority)} if priority is not None else {})}
        values = ", ".join(fixed.get(c, "e." + c) for c in cols)
        sql = (
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
            f"INSERT INTO emails ({', '.join(cols)}, message_id, to_email, to_emails, raw, "
            f"created_at, updated_at) SELECT {values}, '<' || {new_id} || '>', {to}, "
            f"{to_list}, {raw}, e.created_at, e.updated_at FROM emails e, s WHERE e.id = :id"
        )
        with engine.begin() as conn:
            conn.execute(text(sql), {"n": n, "id": template_id, "bare": bare})
    return time.perf_counter() - started


def analyze(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("ANALYZE emails" if engine.dialect.name == "postgresql" else "ANALYZE"))
        conn.commit()


def forget_statistics(engine: Engine) -> None:
    """No statistics at all for the queue table (what a table filled since its last ANALYZE
    with autovacuum off looks like is 'stale'; this is 'none')."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # pg_statistic rows go with a fresh copy of the table's stats only by superuser.
            conn.execute(text("DELETE FROM pg_statistic WHERE starelid = 'emails'::regclass"))
        else:
            exists = conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            ).first()
            if exists:
                conn.execute(text("DELETE FROM sqlite_stat1"))
        conn.commit()


def sizes(engine: Engine) -> dict[str, Any]:
    """Table and claim-index sizes in MB (PostgreSQL: relation sizes; SQLite: dbstat if
    compiled in, else the file's pages)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                    "WHERE c.relname = 'emails' OR c.relname LIKE 'ix_emails_%' "
                    "OR c.relname = 'emails_pkey'"
                )
            ).all()
            out = {name: size / 2**20 for name, size in rows}
            out["emails (with TOAST)"] = (
                conn.execute(text("SELECT pg_table_size('emails')")).scalar_one() / 2**20
            )
            return out
        try:
            rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
            return {
                name: size / 2**20
                for name, size in rows
                if name == "emails" or name.startswith("ix_emails_")
            }
        except Exception:
            pages = conn.execute(text("PRAGMA page_count")).scalar_one()
            page = conn.execute(text("PRAGMA page_size")).scalar_one()
            return {"database file": pages * page / 2**20}

"""Bulk INSERT … ON CONFLICT DO NOTHING RETURNING: one unnest() statement on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session


def insert_new(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Inserts `rows` (all with the same keys), skipping those that collide on `conflict`;
    returns `returning` of the rows actually inserted, in no particular order.

    PostgreSQL gets one statement whose columns are array parameters: an executemany of
    thousands of rows spent most of its time in the driver building and sending each row."""
    if not rows:
        return []
    columns = list(rows[0])
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = (
            sqlite.insert(table)
            .on_conflict_do_nothing(index_elements=list(conflict))
            .returning(*(table.c[c] for c in returning))
        )
        return [tuple(r) for r in session.execute(stmt, list(rows))]
    # Names come from the table's metadata, never from input.
    arrays = ", ".join(
        f"CAST(:c{i} AS {table.c[c].type.compile(dialect=dialect)}[])"
        for i, c in enumerate(columns)
    )
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(columns)}) '
        f"SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING "
        f"RETURNING {', '.join(returning)}"
    )
    params = {f"c{i}": [r[c] for r in rows] for i, c in enumerate(columns)}
    return [tuple(r) for r in session.execute(text(sql), params)]

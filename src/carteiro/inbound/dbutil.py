"""Small database helpers for bulk work: IN-list chunks and primary keys allocated up front."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from carteiro.db.base import Base, table_of

T = TypeVar("T")
IN_CHUNK = 500


def chunks(values: list[T], size: int = IN_CHUNK) -> Iterable[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def allocate_ids(session: Session, model: type[Base], count: int) -> list[int]:
    """Primary keys for rows about to be inserted, so inserts need no RETURNING round trip."""
    if count <= 0:
        return []
    table = table_of(model)
    if session.get_bind().dialect.name == "postgresql":
        stmt = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
        return list(session.scalars(stmt, {"t": table.name, "n": count}))
    # SQLite transactions here begin IMMEDIATE: nobody else can insert until we commit.
    start = (session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))

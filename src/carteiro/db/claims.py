"""The claim form of leased queues: one UPDATE that takes the first due rows nobody holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Update, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def claim_rows(
    session: Session,
    entity: Any,
    *,
    key: ColumnElement[Any] | InstrumentedAttribute[Any],
    where: ColumnElement[bool],
    order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    limit: int,
) -> Update:
    """`UPDATE entity WHERE key IN (first `limit` rows matching `where`)`; the caller adds
    `.values(...)` (the lease) and `.returning(...)`.

    PostgreSQL picks the rows with `FOR UPDATE SKIP LOCKED` inside a MATERIALIZED CTE: as a
    plain `IN (subquery)` the planner may re-run the LIMIT subquery per candidate row, and with
    SKIP LOCKED each run can return other rows, so one claim could take more than `limit`.
    SQLite has one writer at a time, so the subquery alone is exact there."""
    due = select(key).where(where).order_by(*order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        return update(entity).where(key.in_(picked.select()))
    return update(entity).where(key.in_(due.scalar_subquery()))

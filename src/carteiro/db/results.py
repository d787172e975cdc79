"""Session.execute for DML, typed as the CursorResult it returns (row counts, inserted keys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def dml(
    session: Session,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    execution_options: Mapping[str, Any] | None = None,
) -> CursorResult[*tuple[Any, ...]]:
    """Runs an INSERT, UPDATE or DELETE; Session.execute is typed as returning a plain Result."""
    result = session.execute(statement, params, execution_options=execution_options or {})
    assert isinstance(result, CursorResult)
    return result


def inserted_id(result: CursorResult[*tuple[Any, ...]]) -> int:
    """The primary key of the one row a single-row INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])

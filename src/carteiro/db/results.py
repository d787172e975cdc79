"""What a DML statement's result reports (Session.execute is typed as returning a plain Result)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Result


def cursor(result: Result[*tuple[Any, ...]]) -> CursorResult[*tuple[Any, ...]]:
    """The result of an INSERT, UPDATE or DELETE, which is always a CursorResult."""
    assert isinstance(result, CursorResult)
    return result


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched."""
    return cursor(result).rowcount


def inserted_id(result: Result[*tuple[Any, ...]]) -> int:
    """The primary key of the one row a single-row INSERT wrote."""
    key = cursor(result).inserted_primary_key
    assert key is not None
    return int(key[0])

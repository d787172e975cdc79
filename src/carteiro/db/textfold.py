"""Case- and accent-insensitive matching that runs the same on SQLite and PostgreSQL.

PostgreSQL's `unaccent` is an extension that may not be installed, and SQLite's `lower()`
only folds ASCII. So `fold(column)` compiles to `lower(translate(column, accented, plain))` on
PostgreSQL (both built in) and to a Python function registered on every SQLite connection;
both map the same accented Latin letters, so a search matches alike on either database.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql._typing import _ColumnExpressionArgument
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import String

SQLITE_FUNCTION = "carteiro_fold"

# Every accented Latin letter of the Latin-1 and Latin Extended-A blocks, and what it folds to.
ACCENTED = "".join(
    c
    for c in map(chr, range(0xC0, 0x180))
    if unicodedata.decomposition(c) and unicodedata.normalize("NFKD", c)[0].isascii()
)
PLAIN = "".join(unicodedata.normalize("NFKD", c)[0] for c in ACCENTED)
_TABLE = str.maketrans(ACCENTED, PLAIN)


def fold_text(value: str) -> str:
    """`value` lower-cased with accents removed, exactly as `fold()` does in SQL."""
    return value.translate(_TABLE).lower()


def sqlite_fold(value: object) -> str | None:
    """The SQLite side of `fold()`; NULL stays NULL."""
    if value is None:
        return None
    return fold_text(value if isinstance(value, str) else str(value))


def register_sqlite(dbapi_conn: Any, _record: Any = None) -> None:
    dbapi_conn.create_function(SQLITE_FUNCTION, 1, sqlite_fold, deterministic=True)


class fold(FunctionElement[str]):
    """`fold(column)` in a query: compare with `fold_text(needle)`."""

    type = String()
    inherit_cache = True
    name = "fold"

    def __init__(self, value: _ColumnExpressionArgument[Any]) -> None:
        super().__init__(value)


@compiles(fold)
def _fold_default(element: fold, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"lower(translate({arg}, '{ACCENTED}', '{PLAIN}'))"


@compiles(fold, "sqlite")
def _fold_sqlite(element: fold, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"

"""INSERT … ON CONFLICT for the connected dialect (PostgreSQL and SQLite spell it alike)."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carteiro.db.base import Base


def insert(session: Session, model: type[Base] | Table) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)

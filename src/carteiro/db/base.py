"""Declarative base and the mixins every table shares."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carteiro.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def table_of(model: type[Base]) -> Table:
    """The model's Table (the stubs type `__table__` as any FromClause; each model here has one)."""
    found = model.__table__
    assert isinstance(found, Table)
    return found

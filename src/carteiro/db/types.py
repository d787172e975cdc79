"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field
from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The ranges of INTEGER and BIGINT on PostgreSQL (SQLite stores 64 bits); a value outside them
# fails in the driver, so request schemas bound every number that reaches such a column.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
# Row ids (BIGINT or INTEGER primary keys): positive and within 64 bits.
RowId = Annotated[int, Field(ge=1, le=INT64_MAX)]


def _ref_in_range(value: str | int) -> str | int:
    if isinstance(value, int) and not 1 <= value <= INT64_MAX:
        raise ValueError(f"an id is between 1 and {INT64_MAX}")
    return value


# "name or id" references (accounts): a number must still be a possible row id.
NameOrId = Annotated[str | int, AfterValidator(_ref_in_range)]

# Stored timestamps are UTC; an offset that moves a value past year 1 or 9999 cannot be
# represented, and far-off dates only break the arithmetic done on them later.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the calendar once converted to UTC") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return value


StoredDatetime = Annotated[AwareDatetime, AfterValidator(_in_range)]

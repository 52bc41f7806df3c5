"""Column types shared by the tables and the migrations.

They hide the differences between SQLite and PostgreSQL that would otherwise leak
into the rest of the product: SQLite has no time zones, no JSONB and only makes
``INTEGER PRIMARY KEY`` an auto-incrementing row id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

#: 64-bit ids on PostgreSQL; SQLite needs exactly ``INTEGER`` for a row-id alias.
IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: JSON documents; JSONB on PostgreSQL so they can be indexed and compared later.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is stored in UTC and always read back timezone-aware.

    SQLite keeps datetimes as text without an offset, so values are normalised to
    UTC before they are written (which also keeps the text sortable) and get
    their ``tzinfo`` back when read. Naive datetimes are refused: guessing their
    zone is how off-by-three-hours bugs are born.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite gets a naive UTC value it can compare as text."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values (SQLite) and normalise aware ones (PostgreSQL)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

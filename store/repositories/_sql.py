"""SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from store.errors import StoreError

#: Longest error text kept on a row; tracebacks can be huge and are in the logs anyway.
MAX_ERROR_CHARS = 4000


def insert_ignoring_conflicts(
    session: AsyncSession, model: type[Any], values: dict[str, Any], unique: list[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING id`` for the session's backend.

    Unlike catching ``IntegrityError``, a conflict here is not an error, so the
    caller's transaction stays usable (PostgreSQL aborts a transaction on any
    failed statement).
    """
    return (
        dialect_insert(session, model).values(**values)
        .on_conflict_do_nothing(index_elements=unique).returning(model.id)
    )


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """The session's backend's own ``INSERT`` (it has ``on_conflict_do_*``)."""
    backend = session.get_bind().dialect.name
    if backend == "postgresql":
        return postgresql.insert(model)
    if backend == "sqlite":
        return sqlite.insert(model)
    raise StoreError(f"unsupported database backend {backend!r}")


def clip_error(error: str | BaseException) -> str:
    """Error text as stored: exceptions get their type name, long text is cut."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
    return text[:MAX_ERROR_CHARS]


async def execute_rowcount(session: AsyncSession, statement: Any) -> int:
    """Execute an UPDATE or DELETE and return how many rows it matched."""
    result = await session.execute(statement)
    return int(cast(CursorResult[Any], result).rowcount)

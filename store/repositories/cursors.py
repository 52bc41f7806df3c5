"""Channel cursors: one durable value per (channel, key), such as a long-poll ``ts``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.models import ChannelCursor
from store.repositories._sql import dialect_insert
from store.types import utc_now


class CursorRepository:
    """Channel cursors, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def get(self, channel: str, key: str) -> str | None:
        """The stored value, or None when nothing was stored yet."""
        # The column, not the object: a value `put` in this session is always current.
        query = sa.select(col(ChannelCursor.value)).where(
            col(ChannelCursor.channel) == channel, col(ChannelCursor.key) == key)
        return (await self._session.scalars(query)).first()

    async def put(self, channel: str, key: str, value: str) -> None:
        """Store ``value``, replacing any earlier one (one statement, so no race on insert)."""
        now = utc_now()
        statement = dialect_insert(self._session, ChannelCursor).values(
            channel=channel, key=key, value=value, updated_at=now)
        await self._session.execute(statement.on_conflict_do_update(
            index_elements=["channel", "key"], set_={"value": value, "updated_at": now}))

"""Messages of a dialog, in the order they were stored."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.models import Author, Dialog, Direction, Message
from store.types import utc_now


class MessageRepository:
    """Messages, within the transaction of the session it is given.

    Order is the id order: ids only grow (on SQLite thanks to AUTOINCREMENT),
    while two messages stored in the same microsecond would tie on ``created_at``.
    """

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def add(
        self,
        dialog_id: int,
        direction: Direction | str,
        author: Author | str,
        text: str,
        meta: dict[str, Any] | None = None,
        inbox_id: int | None = None,
        *,
        touch_dialog: bool = True,
    ) -> Message:
        """Store a message and move the dialog's ``last_message_at`` to its time.

        ``touch_dialog=False`` leaves the dialog row alone, for a caller that updates
        the dialog in the same transaction anyway (one UPDATE instead of one a message).
        """
        message = Message(
            dialog_id=dialog_id,
            direction=Direction(direction),
            author=Author(author),
            text=text,
            meta=meta or {},
            inbox_id=inbox_id,
            created_at=utc_now(),
        )
        self._session.add(message)
        await self._session.flush()
        if not touch_dialog:
            return message
        await self._session.execute(
            sa.update(Dialog)
            .where(col(Dialog.id) == dialog_id)
            .values(last_message_at=message.created_at, updated_at=message.created_at)
        )
        return message

    async def recent(self, dialog_id: int, limit: int = 20) -> list[Message]:
        """The last ``limit`` messages of a dialog, oldest first (ready for a prompt)."""
        query = (
            sa.select(Message)
            .where(col(Message.dialog_id) == dialog_id)
            .order_by(col(Message.id).desc())
            .limit(limit)
        )
        newest_first = (await self._session.scalars(query)).all()
        return list(reversed(newest_first))

    async def all_for_dialog(self, dialog_id: int) -> list[Message]:
        """Every message of a dialog, oldest first."""
        query = (
            sa.select(Message).where(col(Message.dialog_id) == dialog_id).order_by(col(Message.id))
        )
        return list((await self._session.scalars(query)).all())

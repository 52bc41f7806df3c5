"""The durable inbox: every inbound message is stored before it is answered.

Together with the outbox this gives "answered exactly once": the engine stores an
inbound message here first, and later, in ONE transaction, stores the replies,
enqueues them in the outbox and calls ``mark_done``. A crash before that commit
leaves the item pending, so it is processed again; a crash after it leaves
nothing to redo.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.models import InboxItem, InboxStatus
from store.repositories._sql import clip_error, execute_rowcount, insert_ignoring_conflicts
from store.types import utc_now

_PENDING = col(InboxItem.status) == InboxStatus.PENDING


class InboxRepository:
    """Inbox items, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def add(
        self, channel: str, external_id: str, dialog_key: str, payload: dict[str, Any]
    ) -> int | None:
        """Store an inbound message; return its id, or ``None`` if it was seen before.

        Channels redeliver (webhook retries, long-polling after a restart), so a
        repeated ``(channel, external_id)`` is expected: it is ignored without an
        exception and the surrounding transaction stays usable.
        """
        values = {
            "channel": channel,
            "external_id": external_id,
            "dialog_key": dialog_key,
            "payload": payload,
            "status": InboxStatus.PENDING,
            "attempts": 0,
            "received_at": utc_now(),
        }
        statement = insert_ignoring_conflicts(
            self._session, InboxItem, values, ["channel", "external_id"]
        )
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def get(self, item_id: int) -> InboxItem | None:
        """The item with this id, if any."""
        return await self._session.get(InboxItem, item_id)

    async def pending(self, limit: int = 100) -> list[InboxItem]:
        """Up to ``limit`` pending items, oldest first."""
        query = sa.select(InboxItem).where(_PENDING).order_by(col(InboxItem.id)).limit(limit)
        return list((await self._session.scalars(query)).all())

    async def pending_dialog_keys(self, received_before: datetime | None = None) -> list[tuple[str, str]]:
        """``(channel, dialog_key)`` of every dialog with pending items, oldest waiting first.

        With ``received_before``, only dialogs with an item pending since before then.
        """
        first_id = sa.func.min(col(InboxItem.id))
        stale = col(InboxItem.received_at) < received_before if received_before is not None else sa.true()
        query = (
            sa.select(col(InboxItem.channel), col(InboxItem.dialog_key))
            .where(_PENDING, stale)
            .group_by(col(InboxItem.channel), col(InboxItem.dialog_key))
            .order_by(first_id)
        )
        return [(row.channel, row.dialog_key) for row in await self._session.execute(query)]

    async def pending_count(self, channel: str, dialog_keys: list[str]) -> int:
        """How many items of these dialogs still wait for an answer (a flood guard's queue length)."""
        if not dialog_keys:
            return 0
        query = sa.select(sa.func.count()).select_from(InboxItem).where(
            _PENDING, col(InboxItem.channel) == channel, col(InboxItem.dialog_key).in_(dialog_keys))
        return int((await self._session.execute(query)).scalar_one())

    async def next_pending_for_dialog(self, channel: str, dialog_key: str) -> InboxItem | None:
        """The oldest pending item of one dialog: a dialog is answered one message at a time."""
        query = (
            sa.select(InboxItem)
            .where(
                _PENDING, col(InboxItem.channel) == channel, col(InboxItem.dialog_key) == dialog_key
            )
            .order_by(col(InboxItem.id))
            .limit(1)
        )
        return (await self._session.scalars(query)).first()

    async def start_attempt(self, item_id: int) -> int | None:
        """Count one more processing attempt of a pending item; return the new count.

        Commit this before the slow work: after repeated crashes on the same
        message the count tells the engine to give up (``mark_failed``) instead of
        crashing forever. ``None`` if the item is not pending.
        """
        query = (
            sa.update(InboxItem)
            .where(col(InboxItem.id) == item_id, _PENDING)
            .values(attempts=col(InboxItem.attempts) + 1)
            .returning(col(InboxItem.attempts))
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def start_next_attempt(self, channel: str, dialog_key: str) -> InboxItem | None:
        """The oldest pending item of one dialog with one more attempt counted; ``None`` when none.

        ``next_pending_for_dialog`` and ``start_attempt`` in one statement: it writes
        first, so on SQLite the transaction holds the write lock from its start
        (a read first could not be upgraded after another process's commit), and
        the caller can load the dialog in the same transaction before committing.
        """
        oldest = (
            sa.select(col(InboxItem.id))
            .where(_PENDING, col(InboxItem.channel) == channel, col(InboxItem.dialog_key) == dialog_key)
            .order_by(col(InboxItem.id))
            .limit(1)
            .scalar_subquery()
        )
        query = (
            sa.update(InboxItem)
            .where(col(InboxItem.id) == oldest, _PENDING)
            .values(attempts=col(InboxItem.attempts) + 1)
            .returning(InboxItem)
            # The returned row wins over a copy this session loaded before (its old count).
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self._session.scalars(query)).first()

    async def mark_done(self, item_id: int, *, payload: dict[str, Any] | None = None) -> bool:
        """Mark a pending item answered; ``False`` if it was not pending any more.

        ``False`` means another worker got there first: roll the transaction back
        so its replies are not stored and sent twice. A ``payload`` replaces what
        the channel delivered (a redacted copy) in the same statement.
        """
        if payload is not None:
            return await self._finish(item_id, status=InboxStatus.DONE, payload=payload)
        return await self._finish(item_id, status=InboxStatus.DONE)

    async def mark_failed(self, item_id: int, error: str | BaseException) -> bool:
        """Give up on a pending item, keeping the error; ``False`` if it was not pending."""
        return await self._finish(item_id, status=InboxStatus.FAILED, last_error=clip_error(error))

    async def _finish(self, item_id: int, **values: Any) -> bool:
        query = (
            sa.update(InboxItem)
            .where(col(InboxItem.id) == item_id, _PENDING)
            .values(processed_at=utc_now(), **values)
        )
        return await execute_rowcount(self._session, query) == 1

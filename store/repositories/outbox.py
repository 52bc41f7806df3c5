"""The outbox: replies are stored in the answering transaction and delivered after.

A sender loop polls ``due``, ``claim``s an item, delivers it, and records the
outcome with ``mark_sent``, ``mark_retry`` or ``mark_dead``. The claim moves the
item's due time past a lease, atomically, so two senders (two rounds, or two
processes) never send the same item; the dialog's later items wait behind it.
Delivery is at least once: a crash between delivering and ``mark_sent`` sends
that item again once the lease has run out. The claim writes ``IN_DELIVERY``
into ``last_error`` and every outcome overwrites it, so a later claim that
still finds it knows the earlier attempt was cut off (``interrupted_at``).

Backoff is the caller's choice, passed to ``mark_retry`` as ``delay_s``;
``backoff_delay`` computes the usual capped exponential one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from store.models import OutboxItem, OutboxStatus
from store.repositories._sql import clip_error, execute_rowcount
from store.types import utc_now

_PENDING = col(OutboxItem.status) == OutboxStatus.PENDING
#: ``last_error`` of an item while an attempt is under way (cleared by every outcome).
IN_DELIVERY = "in delivery: no outcome recorded yet"


def backoff_delay(attempts: int, base_s: float = 2.0, cap_s: float = 600.0) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2x, 4x ... up to ``cap_s``."""
    return min(cap_s, base_s * 2 ** max(attempts - 1, 0))


def _earlier_pending(*extra: Callable[[Any], Any]) -> Any:
    """EXISTS: an older pending item of the same dialog (and whatever `extra` adds about it)."""
    older = aliased(OutboxItem)
    return (
        sa.select(col(older.id))
        .where(
            col(older.channel) == col(OutboxItem.channel),
            col(older.dialog_key) == col(OutboxItem.dialog_key),
            col(older.status) == OutboxStatus.PENDING,
            col(older.id) < col(OutboxItem.id),
            *(condition(older) for condition in extra),
        )
        .exists()
    )


class OutboxRepository:
    """Outbox items, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def add(
        self,
        channel: str,
        dialog_key: str,
        payload: dict[str, Any],
        inbox_id: int | None = None,
    ) -> OutboxItem:
        """Enqueue a message for delivery, due now."""
        now = utc_now()
        item = OutboxItem(
            channel=channel,
            dialog_key=dialog_key,
            payload=payload,
            inbox_id=inbox_id,
            next_attempt_at=now,
            created_at=now,
        )
        self._session.add(item)
        await self._session.flush()
        return item

    async def get(self, item_id: int) -> OutboxItem | None:
        """The item with this id, if any."""
        return await self._session.get(OutboxItem, item_id)

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Pending items due at ``now``, in id order, keeping each dialog's order.

        An item is left out while an older pending item of the same dialog is
        still waiting for its retry, so a customer never gets message 2 before
        message 1. Send the result in order, and after a failure skip the rest of
        that dialog's items in the batch.
        """
        blocked = _earlier_pending(lambda older: col(older.next_attempt_at) > now)
        query = (
            sa.select(OutboxItem)
            .where(_PENDING, col(OutboxItem.next_attempt_at) <= now, ~blocked)
            .order_by(col(OutboxItem.id))
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def claim(self, item_id: int, lease_s: float, now: datetime | None = None) -> bool:
        """Take a due item for one delivery attempt; ``False`` when another sender has it."""
        now = now or utc_now()
        query = (
            sa.update(OutboxItem)
            .where(col(OutboxItem.id) == item_id, _PENDING, col(OutboxItem.next_attempt_at) <= now)
            .values(next_attempt_at=now + timedelta(seconds=lease_s), last_error=IN_DELIVERY)
        )
        return await execute_rowcount(self._session, query) == 1

    async def claim_if_first(self, item_id: int, lease_s: float, now: datetime | None = None) -> bool:
        """``claim``, but only while no older item of the same dialog is pending, due or not.

        For a sender that got the item from whoever queued it rather than from
        ``due``: it cannot overtake an earlier message of the dialog.
        """
        now = now or utc_now()
        earlier_pending = _earlier_pending()
        query = (
            sa.update(OutboxItem)
            .where(col(OutboxItem.id) == item_id, _PENDING, col(OutboxItem.next_attempt_at) <= now,
                   ~earlier_pending)
            .values(next_attempt_at=now + timedelta(seconds=lease_s), last_error=IN_DELIVERY)
        )
        return await execute_rowcount(self._session, query) == 1

    @staticmethod
    def interrupted_at(item: OutboxItem, lease_s: float) -> datetime | None:
        """When an earlier attempt at a due ``item`` began, if it never recorded an outcome."""
        if item.last_error != IN_DELIVERY:
            return None
        return item.next_attempt_at - timedelta(seconds=lease_s)

    async def mark_sent(self, item_id: int, now: datetime | None = None) -> bool:
        """Record a delivery; ``False`` if the item was not pending."""
        now = now or utc_now()
        return await self._change(item_id, status=OutboxStatus.SENT, sent_at=now, last_error=None)

    async def mark_retry(
        self, item_id: int, error: str | BaseException, delay_s: float, now: datetime | None = None,
        *, counts: bool = True,
    ) -> bool:
        """Make the item due again ``delay_s`` seconds from now, recording why.

        ``counts=False`` for a wait the messenger asked for ("too many requests"):
        it is not a failed attempt, so it never brings the item closer to dead.
        """
        retry_at = (now or utc_now()) + timedelta(seconds=delay_s)
        return await self._change(item_id, counts=counts, next_attempt_at=retry_at,
                                  last_error=clip_error(error))

    async def replace_payload(self, item_id: int, payload: dict[str, Any]) -> bool:
        """Swap a pending item's payload (what is left of a partly delivered message)."""
        query = sa.update(OutboxItem).where(col(OutboxItem.id) == item_id, _PENDING).values(payload=payload)
        return await execute_rowcount(self._session, query) == 1

    async def mark_dead(self, item_id: int, error: str | BaseException) -> bool:
        """Give up on an item (blocked bot, invalid chat...); ``False`` if it was not pending."""
        return await self._change(item_id, status=OutboxStatus.DEAD, last_error=clip_error(error))

    async def retry_dead(self, item_ids: Iterable[int] | None = None) -> int:
        """Queue dead items again, due now with a fresh attempt count; return how many.

        ``None`` retries every dead item. The last error is kept until the next
        attempt overwrites it.
        """
        query = (
            sa.update(OutboxItem)
            .where(col(OutboxItem.status) == OutboxStatus.DEAD)
            .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utc_now())
        )
        if item_ids is not None:
            query = query.where(col(OutboxItem.id).in_(list(item_ids)))
        return await execute_rowcount(self._session, query)

    async def find(self, statuses: Iterable[OutboxStatus] | None, limit: int) -> list[OutboxItem]:
        """Items with these statuses (``None``: all), oldest first."""
        query = sa.select(OutboxItem).order_by(col(OutboxItem.id)).limit(limit)
        if statuses is not None:
            query = query.where(col(OutboxItem.status).in_(list(statuses)))
        return list((await self._session.scalars(query)).all())

    async def counts(self) -> dict[str, int]:
        """How many items there are of each status."""
        query = sa.select(col(OutboxItem.status), sa.func.count()).group_by(col(OutboxItem.status))
        found = {str(OutboxStatus(status)): int(n) for status, n in await self._session.execute(query)}
        return {str(status): found.get(str(status), 0) for status in OutboxStatus}

    async def _change(self, item_id: int, *, counts: bool = True, **values: Any) -> bool:
        # An outcome is one more attempt (unless the messenger only asked to wait);
        # only pending items change.
        if counts:
            values["attempts"] = col(OutboxItem.attempts) + 1
        query = sa.update(OutboxItem).where(col(OutboxItem.id) == item_id, _PENDING).values(**values)
        return await execute_rowcount(self._session, query) == 1

"""The CRM outbox: deal changes queued in the transaction that made them, delivered after.

Delivery is at least once, in order per deal: ``due`` leaves out an event while
an older event of its deal still waits for a retry or is dead, and ``claim``
lets exactly one worker (of any number of processes) send an event at a time.
The receiver drops repeats by the event's idempotency key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from store.leads import CrmEvent, CrmEventStatus
from store.repositories._sql import clip_error, execute_rowcount
from store.types import utc_now

_PENDING = col(CrmEvent.status) == CrmEventStatus.PENDING


class CrmEventRepository:
    """CRM events, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def add(self, deal_id: int, event: str, payload: dict[str, Any], idempotency_key: str) -> CrmEvent:
        """Queue an event for the CRM, due now."""
        now = utc_now()
        item = CrmEvent(
            deal_id=deal_id,
            event=event,
            payload=payload,
            idempotency_key=idempotency_key,
            next_attempt_at=now,
            created_at=now,
        )
        self._session.add(item)
        await self._session.flush()
        return item

    async def get(self, event_id: int) -> CrmEvent | None:
        """The event with this id, if any."""
        return await self._session.get(CrmEvent, event_id)

    async def due(self, now: datetime, limit: int = 100) -> list[CrmEvent]:
        """Pending events due at ``now``, in id order, never ahead of an older one of their deal.

        An event is held back while an older event of the same deal waits for a
        retry or is dead: the CRM must never see version 3 of a deal before
        version 2. Send the result in order and stop a deal's chain at its first
        failure.
        """
        older = aliased(CrmEvent)
        blocked = (
            sa.select(col(older.id))
            .where(
                col(older.deal_id) == col(CrmEvent.deal_id),
                col(older.id) < col(CrmEvent.id),
                sa.or_(
                    col(older.status) == CrmEventStatus.DEAD,
                    sa.and_(
                        col(older.status) == CrmEventStatus.PENDING,
                        col(older.next_attempt_at) > now,
                    ),
                ),
            )
            .exists()
        )
        query = (
            sa.select(CrmEvent)
            .where(_PENDING, col(CrmEvent.next_attempt_at) <= now, ~blocked)
            .order_by(col(CrmEvent.id))
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def claim(self, event_id: int, now: datetime, lease_s: float) -> bool:
        """Take a due event for sending; ``False`` if another worker has it or it is done.

        The claim moves ``next_attempt_at`` past the lease: a worker that dies
        mid-send leaves the event to be sent again once the lease runs out, and
        meanwhile the deal's later events wait.
        """
        statement = (
            sa.update(CrmEvent)
            .where(col(CrmEvent.id) == event_id, _PENDING, col(CrmEvent.next_attempt_at) <= now)
            .values(next_attempt_at=now + timedelta(seconds=lease_s))
        )
        return await execute_rowcount(self._session, statement) == 1

    async def mark_sent(self, event_id: int, now: datetime | None = None) -> bool:
        """Record a delivery; ``False`` if the event was not pending."""
        now = now or utc_now()
        return await self._change(event_id, status=CrmEventStatus.SENT, sent_at=now, last_error=None)

    async def mark_retry(
        self, event_id: int, error: str | BaseException, delay_s: float, now: datetime | None = None,
        *, counts: bool = True,
    ) -> bool:
        """Make the event due again ``delay_s`` seconds from now, recording why.

        ``counts=False`` for a wait the CRM asked for (HTTP 429): not a failed
        attempt, so a throttling CRM never kills an event.
        """
        retry_at = (now or utc_now()) + timedelta(seconds=delay_s)
        return await self._change(event_id, counts=counts, next_attempt_at=retry_at,
                                  last_error=clip_error(error))

    async def mark_dead(self, event_id: int, error: str | BaseException) -> bool:
        """Give up on an event (it stays visible and holds its deal's later events)."""
        return await self._change(event_id, status=CrmEventStatus.DEAD, last_error=clip_error(error))

    async def _change(self, event_id: int, *, counts: bool = True, **values: Any) -> bool:
        # An outcome is one more attempt (unless the CRM only asked to wait);
        # only pending events change.
        if counts:
            values["attempts"] = col(CrmEvent.attempts) + 1
        statement = sa.update(CrmEvent).where(col(CrmEvent.id) == event_id, _PENDING).values(**values)
        return await execute_rowcount(self._session, statement) == 1

    async def retry_dead(self, event_ids: Iterable[int] | None = None) -> int:
        """Queue dead events again, due now with a fresh attempt count; return how many.

        ``None`` retries every dead event. The last error is kept until the next
        attempt replaces it.
        """
        statement = (
            sa.update(CrmEvent)
            .where(col(CrmEvent.status) == CrmEventStatus.DEAD)
            .values(status=CrmEventStatus.PENDING, attempts=0, next_attempt_at=utc_now())
        )
        if event_ids is not None:
            statement = statement.where(col(CrmEvent.id).in_(list(event_ids)))
        return await execute_rowcount(self._session, statement)

    async def find(
        self, statuses: Iterable[CrmEventStatus | str] | None = None, limit: int | None = None
    ) -> list[CrmEvent]:
        """Events in id order, only those in ``statuses`` when given."""
        query = sa.select(CrmEvent).order_by(col(CrmEvent.id))
        if statuses is not None:
            query = query.where(col(CrmEvent.status).in_([CrmEventStatus(s) for s in statuses]))
        if limit is not None:
            query = query.limit(limit)
        return list((await self._session.scalars(query)).all())

    async def counts(self) -> dict[str, int]:
        """How many events are in each status."""
        query = sa.select(col(CrmEvent.status), sa.func.count()).group_by(col(CrmEvent.status))
        found = {str(CrmEventStatus(status)): int(n) for status, n in await self._session.execute(query)}
        return {str(status): found.get(str(status), 0) for status in CrmEventStatus}

    async def drop_unsent(self, deal_ids: Iterable[int]) -> int:
        """Delete the pending and dead events of these deals; return how many.

        Used by erasure: an event that never reached the CRM must not carry the
        customer's data there afterwards.
        """
        ids = list(deal_ids)
        if not ids:
            return 0
        statement = sa.delete(CrmEvent).where(
            col(CrmEvent.deal_id).in_(ids), col(CrmEvent.status) != CrmEventStatus.SENT
        )
        return await execute_rowcount(self._session, statement)

    async def blank_sent(self, deal_ids: Iterable[int]) -> int:
        """Replace the payloads of delivered events of these deals by a stub; return how many."""
        ids = list(deal_ids)
        if not ids:
            return 0
        rows = await self._session.execute(
            sa.select(col(CrmEvent.id), col(CrmEvent.event), col(CrmEvent.deal_id)).where(
                col(CrmEvent.deal_id).in_(ids), col(CrmEvent.status) == CrmEventStatus.SENT
            )
        )
        count = 0
        for event_id, event, deal_id in rows.all():
            stub = {"event": event, "deal": {"id": deal_id}, "erased": True}
            await self._session.execute(
                sa.update(CrmEvent).where(col(CrmEvent.id) == event_id).values(payload=stub)
            )
            count += 1
        return count

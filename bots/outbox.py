"""Delivery of stored replies through their channels, with retries.

The dispatcher wakes when the engine queues a reply (and every few seconds
anyway, for retries and replies queued by another process). Replies the
engine hands over (`queued`) are claimed and sent first, without looking
them up: a claim of one succeeds only while no earlier message of its dialog
is pending, and anything it leaves is found by the same round's `due` query. A `retry_after`
from the messenger is honoured; other failures back off exponentially; a
permanent failure (the user blocked the bot) closes the dialog instead of
looping; after `MAX_ATTEMPTS` an item is dead and stays visible.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from bots.channels.base import Channel, DeliveryError
from bots.messages import OUTBOX_ID, OUTBOX_INTERRUPTED_AT, OutboundMessage
from store.db import Database
from store.models import DialogStatus, OutboxItem
from store.repositories import DialogRepository, OutboxRepository, backoff_delay
from store.types import utc_now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
POLL_S = 2.0
#: How long a claimed item is this sender's: longer than any send takes (a long
#: message is several API calls, each paced); after a crash it is sent again then.
CLAIM_S = 120.0


class OutboxDispatcher:
    """Sends due outbox items through the channel each item names."""

    def __init__(self, db: Database, channels: Mapping[str, Channel], *, claim_s: float = CLAIM_S) -> None:
        self.db = db
        self.channels = channels
        self.claim_s = claim_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fresh: list[OutboxItem] = []
        self._look = True  # the next round queries `due` (at start: what the last run left)

    def wake(self) -> None:
        """Something was queued: deliver it now."""
        self._look = True
        self._wake.set()

    def queued(self, items: Sequence[OutboxItem]) -> None:
        """Items this process just committed: send them now, without a query to find them."""
        self._fresh.extend(items)
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in the background."""
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        """Stop the loop; undelivered items stay queued."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def deliver_due(self) -> int:
        """Send everything due now, each dialog in order; return how many were sent."""
        async with self.db.session() as session:
            items = await OutboxRepository(session).due(utc_now())
        sent, blocked = 0, set()
        for item in items:
            key = (item.channel, item.dialog_key)
            if key in blocked:
                continue
            if await self._deliver(item):
                sent += 1
            else:
                blocked.add(key)
        return sent

    async def _deliver_fresh(self) -> bool:
        """Send the items handed over by `queued`; False when one was left to `due`."""
        fresh, self._fresh = self._fresh, []
        blocked: set[tuple[str, str]] = set()
        for item in fresh:
            key = (item.channel, item.dialog_key)
            if key in blocked or not await self._deliver(item, first_in_dialog=True):
                blocked.add(key)  # left to `due`, in the dialog's order
        return not blocked

    async def _run(self) -> None:
        while True:
            # Cleared before the round: a reply queued while it runs wakes the next one at once.
            self._wake.clear()
            look, self._look = self._look, False
            try:
                # Woken only by `queued` items that all went out: nothing else to look for
                # (retries and other processes' items wait for a `wake` or the timer).
                if not await self._deliver_fresh() or look:
                    await self.deliver_due()
            except Exception:
                log.exception("outbox delivery round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                self._look = True

    async def _deliver(self, item: OutboxItem, *, first_in_dialog: bool = False) -> bool:
        assert item.id is not None
        channel = self.channels.get(item.channel)
        if channel is None:
            return False  # another process owns that channel; it will deliver the item
        async with self.db.transaction() as session:
            repo = OutboxRepository(session)
            claim = repo.claim_if_first if first_in_dialog else repo.claim
            if not await claim(item.id, self.claim_s):
                return False  # another round or process is sending it: the dialog waits
        interrupted = OutboxRepository.interrupted_at(item, self.claim_s)
        try:
            await channel.send(_with_outbox_id(OutboundMessage.from_payload(item.payload), item.id,
                                               interrupted))
        except DeliveryError as exc:
            await self._failed(item, exc)
            return False
        except Exception as exc:
            log.exception("sending outbox item %s failed", item.id)
            await self._failed(item, DeliveryError(str(exc)))
            return False
        async with self.db.transaction() as session:
            await OutboxRepository(session).mark_sent(item.id)
        return True

    async def _failed(self, item: OutboxItem, exc: DeliveryError) -> None:
        assert item.id is not None
        async with self.db.transaction() as session:
            repo = OutboxRepository(session)
            if exc.permanent or item.attempts + 1 >= MAX_ATTEMPTS:
                await repo.mark_dead(item.id, exc)
                if exc.permanent:
                    await _close_dialog(session, item)
                return
            delay = exc.retry_after if exc.retry_after is not None else backoff_delay(item.attempts + 1)
            if exc.remaining is not None:
                await repo.replace_payload(item.id, exc.remaining.to_payload())
            await repo.mark_retry(item.id, exc, delay)


def _with_outbox_id(message: OutboundMessage, item_id: int,
                    interrupted: datetime | None = None) -> OutboundMessage:
    """The message with its outbox id in `meta`, so a channel can make resends idempotent.

    A crash between the messenger's answer and `mark_sent` sends the item again;
    a messenger that deduplicates (VK's `random_id`) needs the same key both times,
    and one that does not (MAX) is told when the cut-off attempt began.
    """
    meta: dict[str, object] = {**message.meta, OUTBOX_ID: item_id}
    if interrupted is not None:  # an earlier unsure attempt, kept by the channel, counts from earlier
        meta.setdefault(OUTBOX_INTERRUPTED_AT, interrupted.timestamp())
    return message.model_copy(update={"meta": meta})


async def _close_dialog(session: object, item: OutboxItem) -> None:
    dialogs = DialogRepository(session)  # type: ignore[arg-type]
    dialog = await dialogs.by_key(item.channel, item.dialog_key)
    if dialog is not None:
        await dialogs.update(dialog, status=DialogStatus.CLOSED, handoff_reason="blocked")

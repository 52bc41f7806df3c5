"""Delivery of stored replies through their channels, with retries.

The dispatcher wakes when the engine queues a reply (and every few seconds
anyway, for retries and replies queued by another process). Replies the
engine hands over (`queued`) are claimed and sent without looking them up: a
claim of one succeeds only while no earlier message of its dialog is pending,
and anything it leaves is found by a `due` query. Dialogs are sent to side by
side, each by one task that sends its items in order, so one customer's slow
or hung messenger chat never holds back another's reply.

A messenger's "too many requests" is waiting, not failure: the item is due
again after the `retry_after` given and keeps its attempts. Other failures back
off exponentially; a permanent one (the user blocked the bot) closes the
dialog instead of looping; after `MAX_ATTEMPTS` an item is dead and stays
visible until `sovetnik outbox retry --replies` queues it again.
"""

from __future__ import annotations

import asyncio
import functools
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
#: Dialogs sent to at once by one process (each dialog's items still one at a time).
PARALLEL = 16
#: Seconds to wait after "too many requests" when the messenger names no time.
THROTTLE_S = 1.0

DialogKey = tuple[str, str]


class OutboxDispatcher:
    """Sends due outbox items through the channel each item names."""

    def __init__(self, db: Database, channels: Mapping[str, Channel], *, claim_s: float = CLAIM_S,
                 parallel: int = PARALLEL) -> None:
        """Send through `channels` (by name); a claim lasts `claim_s`; `parallel` dialogs at once."""
        self.db = db
        self.channels = channels
        self.claim_s = claim_s
        self._gate = asyncio.Semaphore(parallel)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One sending task per dialog; a dialog seen busy is looked at again when its task ends.
        self._senders: dict[DialogKey, asyncio.Task[int]] = {}
        self._seen_busy: set[DialogKey] = set()
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
        """Stop the loop and its sends; undelivered items stay queued (a cut-off send goes again)."""
        tasks = [t for t in (self._task, *self._senders.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def deliver_due(self) -> int:
        """Send everything due now and wait for it, each dialog in order; return how many were sent."""
        senders = await self._start_due()
        return sum(await asyncio.gather(*senders))

    async def _run(self) -> None:
        while True:
            # Cleared before the round: a reply queued while it runs wakes the next one at once.
            self._wake.clear()
            look, self._look = self._look, False
            fresh, self._fresh = self._fresh, []
            try:
                # Senders are started, not awaited: a slow chat must not hold the next round.
                self._start(fresh, fresh=True)
                # Woken only by `queued` items: nothing else to look for (retries and other
                # processes' items wait for a `wake` or the timer).
                if look:
                    await self._start_due()
            except Exception:
                log.exception("outbox delivery round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                self._look = True

    async def _start_due(self) -> list[asyncio.Task[int]]:
        """Start a sender for every dialog with due items that has none running."""
        async with self.db.session() as session:
            items = await OutboxRepository(session).due(utc_now())
        return self._start(items, fresh=False)

    def _start(self, items: Sequence[OutboxItem], *, fresh: bool) -> list[asyncio.Task[int]]:
        """One sender per dialog of `items` (in their order), unless the dialog has one running."""
        chains: dict[DialogKey, list[OutboxItem]] = {}
        for item in items:
            chains.setdefault((item.channel, item.dialog_key), []).append(item)
        started = []
        for key, chain in chains.items():
            if key in self._senders:
                self._seen_busy.add(key)  # its sender has the older items; these wait for it
                continue
            task = asyncio.create_task(self._send_chain(chain, fresh=fresh), name=f"outbox:{key[0]}")
            self._senders[key] = task
            task.add_done_callback(functools.partial(self._sender_done, key))
            started.append(task)
        return started

    def _sender_done(self, key: DialogKey, _: asyncio.Task[int]) -> None:
        self._senders.pop(key, None)
        if key in self._seen_busy:
            self._seen_busy.discard(key)
            self.wake()  # items that came due while it was sending

    async def _send_chain(self, chain: list[OutboxItem], *, fresh: bool) -> int:
        """One dialog's items in order, stopping at the first that does not go out.

        `fresh` items come from `queued`, not from `due`: one that does not go out
        (an earlier message of the dialog is still pending, or the send failed) is
        left to the next `due` query, which keeps the dialog's order.
        """
        sent = 0
        async with self._gate:
            for item in chain:
                try:
                    delivered = await self._deliver(item, first_in_dialog=fresh)
                except Exception:
                    log.exception("outbox item %s: recording its delivery failed", item.id)
                    delivered = False
                if not delivered:
                    if fresh:
                        self.wake()
                    break
                sent += 1
        return sent

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
        message = _with_outbox_id(OutboundMessage.from_payload(item.payload), item.id, interrupted)
        # A send may take no longer than its claim: past it, the attempt is left
        # unfinished, as a crash would leave it, and goes again as a cut-off one.
        deadline = asyncio.timeout(self.claim_s)
        try:
            async with deadline:
                await channel.send(message)
        except DeliveryError as exc:
            await self._failed(item, exc)
            return False
        except Exception as exc:
            if deadline.expired():
                log.warning("sending outbox item %s took longer than its %.0f s claim: it goes again",
                            item.id, self.claim_s)
                return False
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
            if exc.remaining is not None:
                await repo.replace_payload(item.id, exc.remaining.to_payload())
            if exc.throttled:
                await repo.mark_retry(item.id, exc, exc.retry_after or THROTTLE_S, counts=False)
                return
            if exc.permanent or item.attempts + 1 >= MAX_ATTEMPTS:
                await repo.mark_dead(item.id, exc)
                if exc.permanent:
                    await _close_dialog(session, item)
                return
            delay = exc.retry_after if exc.retry_after is not None else backoff_delay(item.attempts + 1)
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

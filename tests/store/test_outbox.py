"""Outbox contract, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from store import Database, OutboxRepository, OutboxStatus, backoff_delay

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def _enqueue(db: Database, *dialog_keys: str) -> list[int]:
    async with db.transaction() as session:
        outbox = OutboxRepository(session)
        items = [await outbox.add("telegram", key, {"text": f"to {key}"}) for key in dialog_keys]
    return [item.id for item in items if item.id is not None]


async def _due_ids(db: Database, now: datetime) -> list[int | None]:
    async with db.session() as session:
        return [item.id for item in await OutboxRepository(session).due(now)]


async def test_new_items_are_due_in_order(database: Database) -> None:
    ids = await _enqueue(database, "a", "b", "a")
    future = datetime.now(UTC) + timedelta(seconds=1)
    assert await _due_ids(database, future) == ids
    assert await _due_ids(database, datetime.now(UTC) - timedelta(hours=1)) == []
    async with database.session() as session:
        assert len(await OutboxRepository(session).due(future, limit=2)) == 2


async def test_sent_items_are_no_longer_due(database: Database) -> None:
    first, second = await _enqueue(database, "a", "b")
    async with database.transaction() as session:
        outbox = OutboxRepository(session)
        assert await outbox.mark_sent(first, now=NOW) is True
        assert await outbox.mark_sent(first) is False
    async with database.session() as session:
        sent = await OutboxRepository(session).get(first)
    assert sent is not None and sent.status == OutboxStatus.SENT
    assert sent.sent_at == NOW and sent.attempts == 1
    assert await _due_ids(database, NOW) == [second]


async def test_retry_waits_and_holds_back_the_same_dialog(database: Database) -> None:
    first, same_dialog, other_dialog = await _enqueue(database, "a", "a", "b")
    async with database.transaction() as session:
        assert await OutboxRepository(session).mark_retry(first, "429 Too Many", 30, now=NOW)
    # The second "a" message must not overtake the first while it waits.
    assert await _due_ids(database, NOW) == [other_dialog]
    assert await _due_ids(database, NOW + timedelta(seconds=30)) == [
        first,
        same_dialog,
        other_dialog,
    ]
    async with database.session() as session:
        retried = await OutboxRepository(session).get(first)
    assert retried is not None and retried.status == OutboxStatus.PENDING
    assert retried.attempts == 1 and retried.last_error == "429 Too Many"
    assert retried.next_attempt_at == NOW + timedelta(seconds=30)


async def test_dead_items_stop_and_release_their_dialog(database: Database) -> None:
    first, second = await _enqueue(database, "a", "a")
    async with database.transaction() as session:
        outbox = OutboxRepository(session)
        await outbox.mark_retry(first, "timeout", 60, now=NOW)
        assert await outbox.mark_dead(first, PermissionError("bot was blocked")) is True
        assert await outbox.mark_retry(first, "too late", 1) is False
    assert await _due_ids(database, NOW) == [second]
    async with database.session() as session:
        dead = await OutboxRepository(session).get(first)
    assert dead is not None and dead.status == OutboxStatus.DEAD
    assert dead.attempts == 2 and dead.last_error == "PermissionError: bot was blocked"


async def test_naive_time_is_refused(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            await OutboxRepository(session).due(datetime(2030, 1, 1))


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(50) == 600.0
    assert backoff_delay(3, base_s=1, cap_s=3) == 3


async def test_one_sender_claims_an_item_until_its_lease_runs_out(database: Database) -> None:
    first, same_dialog = await _enqueue(database, "a", "a")
    async with database.transaction() as session:
        outbox = OutboxRepository(session)
        assert await outbox.claim(first, 120, now=NOW) is True
        assert await outbox.claim(first, 120, now=NOW) is False  # another round, another process
    # While it is being sent the dialog's next message waits behind it.
    assert await _due_ids(database, NOW + timedelta(seconds=60)) == []
    # A sender that died mid-send: after the lease the item is due (and claimable) again.
    later = NOW + timedelta(seconds=121)
    assert await _due_ids(database, later) == [first, same_dialog]
    async with database.transaction() as session:
        outbox = OutboxRepository(session)
        assert await outbox.claim(first, 120, now=later) is True
        assert await outbox.mark_sent(first, now=later) is True
        assert await outbox.claim(first, 120, now=later) is False  # sent items are nobody's


async def test_concurrent_claims_have_one_winner(database: Database) -> None:
    (item,) = await _enqueue(database, "a")

    async def claim() -> bool:
        async with database.transaction() as session:
            return await OutboxRepository(session).claim(item, 120)

    assert sorted(await asyncio.gather(*(claim() for _ in range(5)))) == [False] * 4 + [True]


async def test_a_direct_claim_never_overtakes_an_earlier_message_of_the_dialog(database: Database) -> None:
    first, second, other = await _enqueue(database, "a", "a", "b")
    now = datetime.now(UTC) + timedelta(seconds=1)
    async with database.transaction() as session:
        outbox = OutboxRepository(session)
        assert await outbox.claim_if_first(second, 60, now=now) is False  # "a" 1 is still pending
        assert await outbox.claim_if_first(other, 60, now=now) is True
        assert await outbox.claim_if_first(other, 60, now=now) is False  # claimed already
        assert await outbox.claim_if_first(first, 60, now=now) is True
        assert await outbox.mark_sent(first) is True
        assert await outbox.claim_if_first(second, 60, now=now) is True

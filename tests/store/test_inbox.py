"""Inbox contract, on every backend."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from store import Database, InboxItem, InboxRepository, InboxStatus
from store.types import utc_now


async def _add(db: Database, *items: tuple[str, str, str]) -> list[int | None]:
    async with db.transaction() as session:
        inbox = InboxRepository(session)
        return [await inbox.add(ch, ext, key, {"text": ext}) for ch, ext, key in items]


async def test_repeated_message_returns_none_and_transaction_stays_usable(
    database: Database,
) -> None:
    async with database.transaction() as session:
        inbox = InboxRepository(session)
        first = await inbox.add("telegram", "100", "chat-1", {"text": "a"})
        repeated = await inbox.add("telegram", "100", "chat-1", {"text": "a again"})
        other_channel = await inbox.add("web", "100", "chat-1", {"text": "b"})
        assert first is not None and other_channel is not None
        assert repeated is None
        # The same transaction still works after the conflict.
        assert len(await inbox.pending()) == 2
    async with database.session() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(InboxItem))
        stored = await InboxRepository(session).get(first)
    assert count == 2
    assert stored is not None and stored.payload == {"text": "a"}


async def test_repeated_message_in_a_later_transaction_returns_none(database: Database) -> None:
    assert (await _add(database, ("telegram", "7", "chat")))[0] is not None
    assert await _add(database, ("telegram", "7", "chat")) == [None]


async def test_pending_in_id_order_and_by_dialog(database: Database) -> None:
    ids = await _add(
        database, ("tg", "1", "b"), ("tg", "2", "a"), ("tg", "3", "b"), ("web", "4", "a")
    )
    async with database.session() as session:
        inbox = InboxRepository(session)
        assert [item.id for item in await inbox.pending()] == ids
        assert [item.id for item in await inbox.pending(limit=2)] == ids[:2]
        assert await inbox.pending_dialog_keys() == [("tg", "b"), ("tg", "a"), ("web", "a")]
        first_of_b = await inbox.next_pending_for_dialog("tg", "b")
        assert first_of_b is not None and first_of_b.id == ids[0]
        assert await inbox.next_pending_for_dialog("tg", "nobody") is None


async def test_done_and_failed_leave_pending_once(database: Database) -> None:
    done_id, failed_id, other_id = await _add(
        database, ("tg", "1", "b"), ("tg", "2", "b"), ("tg", "3", "c")
    )
    assert done_id is not None and failed_id is not None
    async with database.transaction() as session:
        inbox = InboxRepository(session)
        assert await inbox.mark_done(done_id) is True
        assert await inbox.mark_failed(failed_id, ValueError("LLM timeout")) is True
        assert await inbox.mark_done(done_id) is False  # a second worker must roll back
        assert await inbox.mark_failed(done_id, "late") is False
    async with database.session() as session:
        inbox = InboxRepository(session)
        assert [item.id for item in await inbox.pending()] == [other_id]
        assert await inbox.pending_dialog_keys() == [("tg", "c")]
        assert await inbox.next_pending_for_dialog("tg", "b") is None
        done, failed = await inbox.get(done_id), await inbox.get(failed_id)
    assert done is not None and done.status == InboxStatus.DONE and done.processed_at
    assert failed is not None and failed.status == InboxStatus.FAILED
    assert failed.last_error == "ValueError: LLM timeout"


async def test_attempts_are_counted_for_pending_items(database: Database) -> None:
    (item_id,) = await _add(database, ("tg", "1", "b"))
    assert item_id is not None
    async with database.transaction() as session:
        inbox = InboxRepository(session)
        assert await inbox.start_attempt(item_id) == 1
        assert await inbox.start_attempt(item_id) == 2
        await inbox.mark_done(item_id)
        assert await inbox.start_attempt(item_id) is None


async def test_the_oldest_pending_item_of_a_dialog_is_started_with_its_attempt_counted(
    database: Database,
) -> None:
    first, _, second = await _add(database, ("tg", "1", "a"), ("tg", "2", "b"), ("tg", "3", "a"))
    assert first is not None and second is not None
    async with database.transaction() as session:
        inbox = InboxRepository(session)
        started = await inbox.start_next_attempt("tg", "a")
        assert started is not None and (started.id, started.attempts) == (first, 1)
        assert started.payload == {"text": "1"}
        await inbox.mark_done(first)
        again = await inbox.start_next_attempt("tg", "a")
        assert again is not None and (again.id, again.attempts) == (second, 1)
        again = await inbox.start_next_attempt("tg", "a")  # a retry counts once more
        assert again is not None and (again.id, again.attempts) == (second, 2)
        await inbox.mark_done(second)
        assert await inbox.start_next_attempt("tg", "a") is None
        assert await inbox.start_next_attempt("web", "a") is None


async def test_marking_done_can_replace_the_payload_with_a_redacted_copy(database: Database) -> None:
    (item_id,) = await _add(database, ("tg", "1", "a"))
    assert item_id is not None
    async with database.transaction() as session:
        assert await InboxRepository(session).mark_done(item_id, payload={"text": "[имя]"})
        assert not await InboxRepository(session).mark_done(item_id, payload={"text": "late"})
    async with database.session() as session:
        stored = await InboxRepository(session).get(item_id)
    assert stored is not None and stored.status == InboxStatus.DONE
    assert stored.payload == {"text": "[имя]"}


async def test_dialogs_pending_since_before_a_time(database: Database) -> None:
    (old,) = await _add(database, ("tg", "1", "stale"))
    async with database.transaction() as session:  # as if it had waited a minute
        await session.execute(sa.update(InboxItem).where(InboxItem.id == old)  # type: ignore[arg-type]
                              .values(received_at=utc_now() - timedelta(minutes=1)))
    await _add(database, ("tg", "2", "fresh"), ("tg", "3", "stale"))
    async with database.session() as session:
        inbox = InboxRepository(session)
        assert await inbox.pending_dialog_keys(utc_now() - timedelta(seconds=30)) == [("tg", "stale")]
        assert await inbox.pending_dialog_keys(utc_now() + timedelta(seconds=1)) == [
            ("tg", "stale"), ("tg", "fresh")]

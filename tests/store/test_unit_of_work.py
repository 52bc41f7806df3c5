"""One transaction spans the repositories: that is what makes answers exactly-once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store import (
    Database,
    DialogRepository,
    InboxRepository,
    MessageRepository,
    OutboxRepository,
)

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Crash(Exception):
    """Stands in for the process dying mid-way."""


async def _receive(db: Database) -> int:
    async with db.transaction() as session:
        item_id = await InboxRepository(session).add(
            "telegram", "555", "chat-1", {"text": "Привет"}
        )
    assert item_id is not None
    return item_id


async def _answer(db: Database, item_id: int, *, crash: bool = False) -> bool:
    async with db.transaction() as session:
        dialog = await DialogRepository(session).get_or_create("telegram", "chat-1", "u", "r")
        assert dialog.id is not None
        messages = MessageRepository(session)
        await messages.add(dialog.id, "in", "customer", "Привет", inbox_id=item_id)
        await messages.add(dialog.id, "out", "agent", "Здравствуйте!", inbox_id=item_id)
        reply = {"text": "Здравствуйте!"}
        await OutboxRepository(session).add("telegram", "chat-1", reply, inbox_id=item_id)
        if crash:
            raise Crash
        return await InboxRepository(session).mark_done(item_id)


async def _counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        pending = await InboxRepository(session).pending()
        dialog = await DialogRepository(session).by_key("telegram", "chat-1")
        dialog_id = dialog.id if dialog else None
        messages = await MessageRepository(session).all_for_dialog(dialog_id) if dialog_id else []
        queued = await OutboxRepository(session).due(FAR_FUTURE)
    return len(pending), len(messages), len(queued)


async def test_crash_before_commit_leaves_the_message_to_answer_again(database: Database) -> None:
    item_id = await _receive(database)
    with pytest.raises(Crash):
        await _answer(database, item_id, crash=True)
    assert await _counts(database) == (1, 0, 0)
    assert await _answer(database, item_id) is True
    assert await _counts(database) == (0, 2, 1)


async def test_a_second_worker_cannot_answer_the_same_message(database: Database) -> None:
    item_id = await _receive(database)
    assert await _answer(database, item_id) is True
    with pytest.raises(Crash):
        async with database.transaction() as session:
            if not await InboxRepository(session).mark_done(item_id):
                raise Crash  # the engine rolls back: nothing of this attempt is kept
    assert await _counts(database) == (0, 2, 1)

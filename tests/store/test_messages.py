"""Message contract, on every backend."""

from __future__ import annotations

from store import Author, Database, DialogRepository, Direction, MessageRepository


async def _dialog_id(db: Database, key: str = "chat-1") -> int:
    async with db.transaction() as session:
        dialog = await DialogRepository(session).get_or_create("telegram", key, "u", "r")
    assert dialog.id is not None
    return dialog.id


async def test_messages_come_back_in_chronological_order(database: Database) -> None:
    dialog_id = await _dialog_id(database)
    other_id = await _dialog_id(database, "chat-2")
    async with database.transaction() as session:
        messages = MessageRepository(session)
        for number in range(5):
            await messages.add(dialog_id, "in", "customer", f"вопрос {number}")
            await messages.add(other_id, Direction.OUT, Author.AGENT, "чужой ответ")
    async with database.session() as session:
        messages = MessageRepository(session)
        everything = await messages.all_for_dialog(dialog_id)
        recent = await messages.recent(dialog_id, limit=3)
    assert [m.text for m in everything] == [f"вопрос {n}" for n in range(5)]
    assert [m.text for m in recent] == ["вопрос 2", "вопрос 3", "вопрос 4"]
    assert all(m.dialog_id == dialog_id for m in everything)


async def test_message_fields_round_trip_and_touch_the_dialog(database: Database) -> None:
    dialog_id = await _dialog_id(database)
    meta = {
        "sources": [{"title": "Тарифы", "url": "https://bank.example/тарифы"}],
        "grounded": True,
        "mode": "rag",
    }
    async with database.transaction() as session:
        added = await MessageRepository(session).add(
            dialog_id, Direction.OUT, Author.AGENT, "Ставка — 12 % годовых.", meta
        )
    async with database.session() as session:
        (stored,) = await MessageRepository(session).all_for_dialog(dialog_id)
        dialog = await DialogRepository(session).get(dialog_id)
    assert stored.direction == Direction.OUT and stored.author == Author.AGENT
    assert stored.text == "Ставка — 12 % годовых."
    assert stored.meta == meta
    assert stored.inbox_id is None
    assert stored.created_at == added.created_at
    assert dialog is not None and dialog.last_message_at == added.created_at


async def test_recent_of_an_empty_dialog(database: Database) -> None:
    dialog_id = await _dialog_id(database)
    async with database.session() as session:
        assert await MessageRepository(session).recent(dialog_id, limit=10) == []

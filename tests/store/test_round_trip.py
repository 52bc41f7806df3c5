"""Values come back from the database as they went in, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from store import Database, DialogRepository, InboxRepository, OutboxRepository

PAYLOAD = {
    "text": "Здравствуйте! Какая ставка по вкладу «Надёжный»?",
    "from": {"first_name": "Ёжик", "username": None},
    "entities": [{"type": "bold", "offset": 0, "length": 12}],
    "voice": {"transcript": "хочу открыть счёт", "confidence": 0.93},
}


async def test_cyrillic_json_round_trips(database: Database) -> None:
    async with database.transaction() as session:
        item_id = await InboxRepository(session).add("telegram", "1", "chat", PAYLOAD)
        dialog = await DialogRepository(session).get_or_create("telegram", "chat", "u", "r")
        await DialogRepository(session).update(dialog, state={"память": ["вклад", "ипотека"]})
    assert item_id is not None
    async with database.session() as session:
        item = await InboxRepository(session).get(item_id)
        stored_dialog = await DialogRepository(session).by_key("telegram", "chat")
        raw = await session.scalar(sa.text("SELECT CAST(payload AS TEXT) FROM inbox"))
    assert item is not None and item.payload == PAYLOAD
    assert stored_dialog is not None and stored_dialog.state == {"память": ["вклад", "ипотека"]}
    assert "Надёжный" in raw  # stored readable, not as \\u escapes


async def test_timestamps_come_back_aware_in_utc(database: Database) -> None:
    moscow = timezone(timedelta(hours=3))
    async with database.transaction() as session:
        item = await OutboxRepository(session).add("telegram", "chat", {})
        assert item.id is not None
        sent_at = datetime(2030, 1, 1, 15, tzinfo=moscow)
        await OutboxRepository(session).mark_sent(item.id, now=sent_at)
    async with database.session() as session:
        stored = await OutboxRepository(session).get(item.id)
    assert stored is not None
    assert stored.sent_at == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert stored.sent_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is not None

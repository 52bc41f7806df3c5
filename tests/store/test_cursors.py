"""Channel cursor contract, on every backend (so the migration runs on both)."""

from __future__ import annotations

from store import CursorRepository, Database


async def test_a_cursor_is_absent_until_put_and_then_survives_a_new_session(
    database: Database,
) -> None:
    async with database.session() as session:
        assert await CursorRepository(session).get("vk", "longpoll:1") is None
    async with database.transaction() as session:
        await CursorRepository(session).put("vk", "longpoll:1", "17")
    async with database.session() as session:
        assert await CursorRepository(session).get("vk", "longpoll:1") == "17"


async def test_put_replaces_the_value_and_keeps_keys_apart(database: Database) -> None:
    async with database.transaction() as session:
        cursors = CursorRepository(session)
        await cursors.put("vk", "longpoll:1", "17")
        await cursors.put("vk", "longpoll:2", "5")
        await cursors.put("max", "longpoll:1", "marker-9")
        assert await cursors.get("vk", "longpoll:1") == "17"
        await cursors.put("vk", "longpoll:1", "42")  # read back in the same transaction
        assert await cursors.get("vk", "longpoll:1") == "42"
    async with database.session() as session:
        cursors = CursorRepository(session)
        assert [await cursors.get("vk", "longpoll:1"), await cursors.get("vk", "longpoll:2"),
                await cursors.get("max", "longpoll:1")] == ["42", "5", "marker-9"]


async def test_a_rolled_back_put_leaves_the_old_value(database: Database) -> None:
    async with database.transaction() as session:
        await CursorRepository(session).put("vk", "longpoll:1", "17")
    async with database.session() as session:
        await CursorRepository(session).put("vk", "longpoll:1", "99")
        await session.rollback()
    async with database.session() as session:
        assert await CursorRepository(session).get("vk", "longpoll:1") == "17"

"""Dialog contract, on every backend."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from store import Database, Dialog, DialogRepository, DialogStatus, InvalidFieldError


async def _create(db: Database, channel: str, key: str, user_ref: str = "u1") -> Dialog:
    async with db.transaction() as session:
        return await DialogRepository(session).get_or_create(channel, key, user_ref, "consultant")


async def test_get_or_create_creates_once_per_channel_and_key(database: Database) -> None:
    first = await _create(database, "telegram", "chat-1", user_ref="first")
    again = await _create(database, "telegram", "chat-1", user_ref="second")
    other_channel = await _create(database, "web", "chat-1")
    assert first.id == again.id != other_channel.id
    assert again.user_ref == "first"
    assert first.status == DialogStatus.BOT
    assert first.state == {} and first.summary == ""
    assert first.created_at.tzinfo is not None


async def test_concurrent_get_or_create_ends_with_one_row(database: Database) -> None:
    start = asyncio.Barrier(20)

    async def create() -> int | None:
        async with database.transaction() as session:
            await start.wait()  # all twenty look for the dialog at the same moment
            dialog = await DialogRepository(session).get_or_create("web", "s", "u", "r")
            return dialog.id

    ids = await asyncio.gather(*(create() for _ in range(20)))
    async with database.session() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Dialog))
    assert count == 1
    assert len(set(ids)) == 1


async def test_get_and_by_key(database: Database) -> None:
    created = await _create(database, "telegram", "chat-1")
    assert created.id is not None
    async with database.session() as session:
        dialogs = DialogRepository(session)
        by_id, by_key = await dialogs.get(created.id), await dialogs.by_key("telegram", "chat-1")
        assert by_id is not None and by_key is not None and by_id.id == by_key.id == created.id
        assert await dialogs.get(created.id + 1000) is None
        assert await dialogs.by_key("telegram", "nobody") is None


async def test_update_persists_fields_and_state_changed_in_place(database: Database) -> None:
    created = await _create(database, "telegram", "chat-1")
    async with database.transaction() as session:
        dialogs = DialogRepository(session)
        dialog = await dialogs.get(created.id or 0)
        assert dialog is not None
        dialog.state["lead"] = {"name": "Анна"}  # mutated in place, then handed to update
        await dialogs.update(
            dialog,
            state=dialog.state,
            status=DialogStatus.WAITING,
            handoff_reason="просит оператора",
            summary="Клиент спрашивает про вклад.",
        )
    async with database.session() as session:
        stored = await DialogRepository(session).get(created.id or 0)
    assert stored is not None
    assert stored.state == {"lead": {"name": "Анна"}}
    assert stored.status == DialogStatus.WAITING
    assert stored.handoff_reason == "просит оператора"
    assert stored.summary == "Клиент спрашивает про вклад."
    assert stored.updated_at > created.updated_at


async def test_update_refuses_fixed_and_unknown_fields(database: Database) -> None:
    created = await _create(database, "telegram", "chat-1")
    async with database.session() as session:
        dialogs = DialogRepository(session)
        with pytest.raises(InvalidFieldError, match="channel"):
            await dialogs.update(created, channel="web")
        with pytest.raises(InvalidFieldError, match="colour"):
            await dialogs.update(created, colour="red")


async def test_update_refuses_an_unknown_status(database: Database) -> None:
    created = await _create(database, "telegram", "chat-1")
    async with database.session() as session:
        with pytest.raises(sa.exc.StatementError):
            await DialogRepository(session).update(created, status="sleeping")


async def test_list_by_status_oldest_change_first(database: Database) -> None:
    one = await _create(database, "telegram", "1")
    two = await _create(database, "telegram", "2")
    three = await _create(database, "telegram", "3")
    async with database.transaction() as session:
        dialogs = DialogRepository(session)
        for dialog in (three, one):  # three is handed off first
            await dialogs.update(dialog, status=DialogStatus.WAITING)
    async with database.session() as session:
        dialogs = DialogRepository(session)
        waiting = await dialogs.list_by_status(DialogStatus.WAITING)
        bot = await dialogs.list_by_status("bot")
        assert await dialogs.list_by_status(DialogStatus.CLOSED) == []
    assert [d.id for d in waiting] == [three.id, one.id]
    assert [d.id for d in bot] == [two.id]


async def test_a_dialog_moves_to_another_channel_once(database: Database) -> None:
    created = await _create(database, "telegram", "chat-9", user_ref="tg-user")
    assert created.id is not None
    stale = Dialog(**created.model_dump())  # what a second process read before the move

    async with database.transaction() as session:
        dialog = await DialogRepository(session).get(created.id)
        assert dialog is not None
        assert await DialogRepository(session).move(dialog, "webchat", "browser-1", user_ref="browser-1")
        assert (dialog.channel, dialog.dialog_key, dialog.user_ref) == ("webchat", "browser-1", "browser-1")
    async with database.transaction() as session:
        assert not await DialogRepository(session).move(stale, "webchat", "browser-2", user_ref="browser-2")

    async with database.session() as session:
        dialogs = DialogRepository(session)
        assert await dialogs.by_key("telegram", "chat-9") is None
        moved = await dialogs.by_key("webchat", "browser-1")
        assert moved is not None and moved.id == created.id

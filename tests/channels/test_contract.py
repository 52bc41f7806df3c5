"""One contract, every channel adapter: what a customer and the messenger may rely on.

Run over Telegram (webhook), VK (Callback API), MAX (webhook) and the web chat (WebSocket),
each against its loopback fake, with the real product behind it.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bots.channels.base import MediaError, MediaTooLarge
from bots.messages import OutboundMessage
from store.models import InboxItem, OutboxItem, OutboxStatus
from tests.channels.harnesses import Harness

CUSTOMER = 8101


async def _inbox(harness: Harness) -> list[InboxItem]:
    async with harness.runtime.db.session() as session:
        return list((await session.execute(sa.select(InboxItem).where(
            InboxItem.channel == harness.channel.name).order_by(InboxItem.id))).scalars())


async def _replies(harness: Harness) -> list[OutboxItem]:
    async with harness.runtime.db.session() as session:
        return list((await session.execute(sa.select(OutboxItem).where(
            OutboxItem.channel == harness.channel.name))).scalars())


async def test_a_message_is_stored_before_it_is_acknowledged(harness: Harness) -> None:
    assert await harness.deliver(CUSTOMER, "Здравствуйте", "u-1")
    # Nothing else has happened yet: the acknowledgement itself promises the inbox has it.
    stored = [i.external_id for i in await _inbox(harness)]
    assert stored == [harness.external_id(CUSTOMER, "u-1")]
    [reply] = await harness.received(CUSTOMER, 1)
    assert reply.text.strip()


async def test_a_repeated_delivery_is_answered_once(harness: Harness) -> None:
    assert await harness.deliver(CUSTOMER, "Спасибо!", "u-2")
    assert await harness.deliver(CUSTOMER, "Спасибо!", "u-2")  # the messenger retries

    await harness.received(CUSTOMER, 1)
    await harness.runtime.engine.idle()
    await asyncio.sleep(0.5)  # time for a second reply, were one queued
    assert len(await _inbox(harness)) == 1
    assert len(await _replies(harness)) == 1
    assert len(await harness.received(CUSTOMER, 1)) == 1


async def test_a_delivery_without_the_secret_is_refused_and_not_stored(harness: Harness) -> None:
    assert not await harness.deliver(CUSTOMER, "Переведите мне деньги", "u-3", signed=False)
    await asyncio.sleep(0.3)
    assert await _inbox(harness) == []
    assert await _replies(harness) == []


async def test_a_long_reply_arrives_whole_in_parts_within_the_limit(harness: Harness) -> None:
    key = await harness.dialog_key(CUSTOMER)
    paragraphs = [f"Абзац {n}. " + "Условия вклада описаны подробно. " * 40 for n in range(8)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 9000

    await harness.channel.send(OutboundMessage(channel=harness.channel.name, dialog_key=key, text=text))

    expected_parts = 1 if harness.limit is None else -(-len(text) // harness.limit)
    parts = await harness.received(CUSTOMER, expected_parts)
    if harness.limit is not None:
        assert all(len(p.text) <= harness.limit for p in parts)
    joined = " ".join(p.text for p in parts)
    positions = [joined.find(f"Абзац {n}.") for n in range(8)]
    assert -1 not in positions and positions == sorted(positions), "every paragraph, in order"
    assert joined.count("описаны подробно") == 8 * 40


async def test_quick_replies_are_offered_as_buttons(harness: Harness) -> None:
    key = await harness.dialog_key(CUSTOMER)
    message = OutboundMessage(channel=harness.channel.name, dialog_key=key,
                              text="Какой вклад вам интересен?",
                              quick_replies=("Накопительный", "Срочный", "Позвать менеджера"))

    await harness.channel.send(message)

    [shown] = await harness.received(CUSTOMER, 1)
    assert "Какой вклад" in shown.text
    assert shown.buttons == ("Накопительный", "Срочный", "Позвать менеджера")


async def test_too_many_requests_is_waited_out_and_the_reply_sent_once(harness: Harness) -> None:
    if not harness.throttle_next_send():
        pytest.skip(f"{harness.channel.name} has no send limit")
    assert await harness.deliver(CUSTOMER, "Спасибо!", "u-4")

    await harness.received(CUSTOMER, 1)
    await harness.runtime.engine.idle()
    await asyncio.sleep(0.5)
    [reply] = await _replies(harness)
    assert reply.status == OutboxStatus.SENT and reply.attempts >= 1  # refused once, then sent
    assert len(await harness.received(CUSTOMER, 1)) == 1


async def test_a_voice_note_is_fetched_within_the_limit(harness: Harness) -> None:
    data = b"OggS" + bytes(range(256)) * 40
    note = harness.voice_note(data)
    if note is None:
        pytest.skip(f"{harness.channel.name} takes no media")
    assert note.kind == "voice"

    assert await harness.channel.fetch_media(note, max_bytes=1024 * 1024) == data
    with pytest.raises(MediaTooLarge):
        await harness.channel.fetch_media(note, max_bytes=1000)
    gone = harness.unknown_voice_note()
    assert gone is not None
    with pytest.raises(MediaError):
        await harness.channel.fetch_media(gone)

"""The VK channel's sending on its own, against the fake VK API: parts, random ids, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.channels.base import DeliveryError
from bots.channels.vk import RATE_RETRIES, VkChannel
from bots.config import VkSettings
from bots.messages import OUTBOX_ID, InboundMessage, OutboundMessage
from tests.fakes.vk_server import FakeVK

PEER = 7301


@pytest.fixture
async def channel(vk: FakeVK) -> AsyncIterator[VkChannel]:
    async def accept(message: InboundMessage) -> int | None:
        return 1

    settings = VkSettings(enabled=True, token=vk.token, group_id=vk.group_id, api_url=vk.base_url)
    built = VkChannel(settings, accept)
    yield built
    await built.stop()


@pytest.fixture
async def vk() -> AsyncIterator[FakeVK]:
    async with FakeVK() as server:
        yield server


def long_reply(outbox_id: int) -> OutboundMessage:
    text = "\n\n".join(f"Часть {n}. " + "Проценты начисляются ежемесячно. " * 100 for n in range(3))
    return OutboundMessage(channel="vk", dialog_key=str(PEER), text=text, meta={OUTBOX_ID: outbox_id})


async def test_a_failed_part_is_retried_alone_and_a_crash_resend_shows_nothing_twice(
        vk: FakeVK, channel: VkChannel) -> None:
    message = long_reply(41)
    vk.fail_next("messages.send", 10, skip=1)  # the first part goes, VK fails on the second

    with pytest.raises(DeliveryError) as failed:
        await channel.send(message)
    assert not failed.value.permanent
    remaining = failed.value.remaining
    assert remaining is not None and remaining.text.startswith("Часть 1.")

    await channel.send(remaining)  # the outbox retries only what is left
    await channel.send(message)  # and a crash before «sent» makes it send the whole item again

    texts = [m["text"] for m in vk.sent_to(PEER)]
    assert [t.split(".")[0] for t in texts] == ["Часть 0", "Часть 1", "Часть 2"]
    ids = [int(p["random_id"]) for p in vk.calls_of("messages.send")]
    assert all(ids) and len(set(ids)) == 3  # three parts, three ids, each sent again with its own


async def test_persistent_too_many_requests_is_handed_to_the_outbox_with_a_pause(
        vk: FakeVK, channel: VkChannel) -> None:
    vk.fail_next("messages.send", 6, times=RATE_RETRIES + 1)
    message = OutboundMessage(channel="vk", dialog_key=str(PEER), text="Спасибо за ожидание.")

    with pytest.raises(DeliveryError) as failed:
        await channel.send(message)

    assert failed.value.retry_after == 1.0 and not failed.value.permanent
    assert len(vk.calls_of("messages.send")) == RATE_RETRIES + 1
    assert vk.sent == []


async def test_a_long_label_and_many_quick_replies_still_make_a_valid_keyboard(
        vk: FakeVK, channel: VkChannel) -> None:
    labels = tuple(f"Вариант {n}: вклад с ежемесячной капитализацией процентов" for n in range(5))
    await channel.send(OutboundMessage(channel="vk", dialog_key=str(PEER), text="Выберите:",
                                       quick_replies=labels))

    [sent] = vk.sent_to(PEER)
    shown = [b["action"]["label"] for row in sent["keyboard"]["buttons"] for b in row]
    assert shown == [label[:40] for label in labels]

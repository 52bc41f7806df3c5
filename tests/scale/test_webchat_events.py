"""A web chat reply sent by one process reaches the customer's tab held by another (Redis pub/sub)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bots.channels.base import DeliveryError
from bots.channels.webchat import WebchatChannel
from bots.events import LocalLiveEvents
from bots.events.redis import RedisLiveEvents
from bots.messages import OutboundMessage
from tests.redis_server import RedisSpace


class Tab:
    """A customer's open tab: what `send_json` got."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_json(self, data: dict[str, Any]) -> None:
        self.frames.append(data)


def _reply(text: str, key: str = "customer-1") -> OutboundMessage:
    return OutboundMessage(channel="webchat", dialog_key=key, text=text, author="manager")


async def _until(predicate: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.mark.redis
async def test_a_reply_sent_by_process_b_reaches_the_tab_on_process_a(redis_space: RedisSpace) -> None:
    clients = [redis_space.client(), redis_space.client()]
    events = [RedisLiveEvents(client, redis_space.prefix) for client in clients]
    process_a, process_b = (WebchatChannel(events=e) for e in events)
    try:
        for e in events:
            await e.start()
        tab, other_customer = Tab(), Tab()
        await process_a.connect("customer-1", tab)  # type: ignore[arg-type]
        await process_a.connect("customer-2", other_customer)  # type: ignore[arg-type]
        await process_b.send_typing("customer-1")
        for n in range(3):
            await process_b.send(_reply(f"Ответ {n}"))
        await _until(lambda: len(tab.frames) == 4)
        assert tab.frames[0] == {"type": "typing"}
        assert [f["text"] for f in tab.frames[1:]] == ["Ответ 0", "Ответ 1", "Ответ 2"]
        assert {f["author"] for f in tab.frames[1:]} == {"manager"}
        await asyncio.sleep(0.1)
        assert other_customer.frames == []
    finally:
        for e in events:
            await e.close()
        for client in clients:
            await client.aclose()


async def test_one_process_delivers_to_its_own_tabs_without_any_server() -> None:
    channel = WebchatChannel(events=LocalLiveEvents())
    tab = Tab()
    await channel.connect("customer-1", tab)  # type: ignore[arg-type]
    await channel.send(_reply("Здравствуйте"))
    assert [f["text"] for f in tab.frames] == ["Здравствуйте"]


async def test_a_reply_that_cannot_be_published_is_retried_by_the_outbox() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    channel = WebchatChannel(events=RedisLiveEvents(client))
    try:
        with pytest.raises(DeliveryError) as failed:
            await channel.send(_reply("Здравствуйте"))
        assert not failed.value.permanent
        await channel.send_typing("customer-1")  # only a hint: never an error
    finally:
        await client.aclose()

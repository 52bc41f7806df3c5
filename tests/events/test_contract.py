"""The live events contract over every implementation: local, and Redis pub/sub between "processes"."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bots.events import LiveEvents, LiveEventsError, LocalLiveEvents
from bots.events.redis import RedisLiveEvents
from tests.redis_server import RedisSpace

Make = Callable[[], Awaitable[LiveEvents]]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """`make()` is one more process's live events; local ones share nothing but themselves."""
    built: list[tuple[LiveEvents, Redis | None]] = []
    if request.param == "local":
        shared = LocalLiveEvents()

        async def make_local() -> LiveEvents:
            return shared  # one process: every handler lives here

        yield make_local
        return
    space: RedisSpace = request.getfixturevalue("redis_space")

    async def make_redis() -> LiveEvents:
        client = space.client()
        events = RedisLiveEvents(client, space.prefix)
        built.append((events, client))
        return events

    try:
        yield make_redis
    finally:
        for events, client in built:
            await events.close()
            if client is not None:
                await client.aclose()


async def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_every_process_handles_an_event_in_publishing_order(make: Make) -> None:
    here, there = await make(), await make()
    seen_here: list[Any] = []
    seen_there: list[Any] = []

    async def on_here(data: dict[str, Any]) -> None:
        seen_here.append(data["n"])

    async def on_there(data: dict[str, Any]) -> None:
        seen_there.append(data["n"])

    here.on("webchat.frames", on_here)
    there.on("webchat.frames", on_there)
    for events in {id(here): here, id(there): there}.values():
        await events.start()
    for n in range(20):
        await there.publish("webchat.frames", {"n": n, "text": "Ответ менеджера"})
    await _until(lambda: len(seen_here) == 20 and len(seen_there) == 20)
    assert seen_here == seen_there == list(range(20))


async def test_topics_stay_apart_and_a_failing_handler_spares_the_rest(make: Make) -> None:
    events = await make()
    got: list[str] = []

    async def broken(data: dict[str, Any]) -> None:
        raise RuntimeError("a tab went away badly")

    async def works(data: dict[str, Any]) -> None:
        got.append(data["text"])

    events.on("a", broken)
    events.on("a", works)
    events.on("b", works)
    await events.start()
    await events.publish("a", {"text": "один"})
    await events.publish("c", {"text": "никому"})
    await events.publish("b", {"text": "два"})
    await _until(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert got == ["один", "два"]


async def test_redis_unreachable_is_a_publishing_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    try:
        with pytest.raises(LiveEventsError):
            await RedisLiveEvents(client).publish("webchat.frames", {"text": "x"})
    finally:
        await client.aclose()

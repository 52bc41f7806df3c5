"""The live events contract over every implementation: local, and Redis pub/sub between "processes"."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import URL

from bots.config import Settings
from bots.events import LiveEvents, LiveEventsError, LocalLiveEvents, build_live_events
from bots.events.postgres import PostgresLiveEvents
from bots.events.redis import RedisLiveEvents
from tests.redis_server import RedisSpace

Make = Callable[[], Awaitable[LiveEvents]]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """`make()` is one more process's live events; local ones share nothing but themselves."""
    built: list[tuple[LiveEvents, Redis | None]] = []
    if request.param == "local":
        shared = LocalLiveEvents()

        async def make_local() -> LiveEvents:
            return shared  # one process: every handler lives here

        yield make_local
        return
    if request.param == "postgres":
        url: URL = request.getfixturevalue("pg_database")
        channel = f"sovetnik-test:{uuid.uuid4().hex[:8]}:events"

        async def make_postgres() -> LiveEvents:
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            events = PostgresLiveEvents(dsn, channel=channel)
            built.append((events, None))
            return events

        try:
            yield make_postgres
        finally:
            for events, _ in built:
                await events.close()
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


async def test_a_long_reply_arrives_whole(make: Make) -> None:
    here, there = await make(), await make()
    got: list[str] = []

    async def on_frame(data: dict[str, Any]) -> None:
        got.append(data["text"])

    here.on("webchat.frames", on_frame)
    for events in {id(here): here, id(there): there}.values():
        await events.start()
    long_reply = "Ставка по вкладу «Надёжный» — 16 % годовых. \"Кавычки\" и эмодзи 🙂\n" * 150  # ~10 KB
    await there.publish("webchat.frames", {"text": long_reply})
    await there.publish("webchat.frames", {"text": "следом"})
    await _until(lambda: len(got) == 2)
    assert got == [long_reply, "следом"]


async def test_postgres_unreachable_is_a_publishing_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    events = PostgresLiveEvents(f"postgresql://postgres@127.0.0.1:{port}/none")
    with pytest.raises(LiveEventsError):
        await events.publish("webchat.frames", {"text": "x"})


@pytest.mark.postgres
async def test_postgres_events_are_built_from_the_store_url(pg_database: URL) -> None:
    store_url = pg_database.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    settings = Settings.model_validate({"store": {"url": store_url}, "scale": {"events": "postgres"},
                                        "redis": {"prefix": f"sovetnik-test-{uuid.uuid4().hex[:8]}"}})
    events = build_live_events(settings)
    got: list[dict[str, Any]] = []

    async def on_frame(data: dict[str, Any]) -> None:
        got.append(data)

    events.on("webchat.frames", on_frame)
    await events.start()
    try:
        await events.publish("webchat.frames", {"dialog_key": "k", "frame": {"type": "typing"}})
        await _until(lambda: len(got) == 1)
    finally:
        await events.close()

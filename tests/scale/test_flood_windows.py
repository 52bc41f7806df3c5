"""The web chat's rate counters over every implementation: one process's, and all processes' (Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from bots.web.flood import HitWindow, LocalWindow
from bots.web.flood_redis import RedisWindow
from tests.redis_server import RedisSpace

LIMIT = 3
WINDOW_S = 0.5

Make = Callable[[], HitWindow]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """`make()` is one more process's counter of the same kind."""
    if request.param == "local":
        shared = LocalWindow(LIMIT, WINDOW_S, max_keys=100)
        yield lambda: shared
        return
    space: RedisSpace = request.getfixturevalue("redis_space")
    clients: list[Redis] = []

    def make_redis() -> HitWindow:
        clients.append(space.client())
        return RedisWindow(clients[-1], "client", LIMIT, WINDOW_S, prefix=space.prefix)

    try:
        yield make_redis
    finally:
        for client in clients:
            await client.aclose()


async def test_hits_in_every_process_count_towards_one_limit(make: Make) -> None:
    a, b = make(), make()
    await a.record("client-1")
    await b.record("client-1")
    assert not await a.full("client-1")
    await b.record("client-1")
    assert await a.full("client-1") and await b.full("client-1")
    assert not await a.full("client-2")


async def test_hits_older_than_the_window_no_longer_count(make: Make) -> None:
    window = make()
    for _ in range(LIMIT):
        await window.record("client-1")
    assert await window.full("client-1")
    await asyncio.sleep(WINDOW_S + 0.1)
    assert not await window.full("client-1")


async def test_unreachable_redis_counts_the_process_alone() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    window = RedisWindow(client, "ip", LIMIT, WINDOW_S)
    try:
        for _ in range(LIMIT):
            await window.record("203.0.113.7")
        assert await window.full("203.0.113.7")
    finally:
        await client.aclose()

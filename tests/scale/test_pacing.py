"""Send pacing over every implementation: one process's, and one bot's across processes (Redis).

The intervals are scaled down (per chat 0.2 s, 20 sends a second overall) and
only lower bounds are asserted: a busy machine can make sends later, never earlier.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from bots.channels.base import ChannelContext
from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.channels.ratelimit_redis import RedisRateLimiter
from bots.config import Settings
from tests.redis_server import RedisSpace

PER_CHAT_S = 0.2
PER_S = 20.0
SLACK_S = 0.01  # timer and clock granularity

Make = Callable[[], SendPacer]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """`make()` is one more process's pacing of the same bot."""
    if request.param == "local":
        shared = RateLimiter(PER_CHAT_S, PER_S)
        yield lambda: shared
        return
    space: RedisSpace = request.getfixturevalue("redis_space")
    clients: list[Redis] = []

    def make_redis() -> SendPacer:
        clients.append(space.client())
        return RedisRateLimiter(clients[-1], "telegram:123456", space.prefix,
                                per_chat_interval_s=PER_CHAT_S, global_per_s=PER_S)

    try:
        yield make_redis
    finally:
        for client in clients:
            await client.aclose()


async def _send_times(pacer: SendPacer, chat: str, times: list[tuple[str, float]]) -> None:
    await pacer.wait(chat)
    times.append((chat, time.monotonic()))


async def test_sends_to_one_chat_are_spaced_by_the_per_chat_interval(make: Make) -> None:
    pacers = [make(), make()]  # two processes sending to one chat of one bot
    times: list[tuple[str, float]] = []
    await asyncio.gather(*(_send_times(pacers[n % 2], "42", times) for n in range(4)))
    stamps = sorted(t for _, t in times)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= PER_CHAT_S - SLACK_S, gaps


async def test_sends_to_many_chats_keep_to_the_bots_overall_rate(make: Make) -> None:
    pacers = [make(), make()]
    times: list[tuple[str, float]] = []
    started = time.monotonic()
    await asyncio.gather(*(_send_times(pacers[n % 2], f"chat-{n}", times) for n in range(10)))
    # Ten sends at 20 a second: the last one no sooner than 9 intervals after the first slot.
    assert max(t for _, t in times) - started >= 9 / PER_S - SLACK_S


async def test_unreachable_redis_paces_the_process_alone() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    pacer = RedisRateLimiter(client, "telegram:1", per_chat_interval_s=PER_CHAT_S, global_per_s=PER_S)
    try:
        first = time.monotonic()
        await pacer.wait("42")
        await pacer.wait("42")
        assert time.monotonic() - first >= PER_CHAT_S - SLACK_S
    finally:
        await client.aclose()


async def test_a_bots_pacing_is_shared_only_when_configured() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")
    shared = Settings.model_validate({"redis": {"url": "redis://127.0.0.1:1/0"},
                                      "scale": {"rate_limits": "redis"}})
    try:
        for settings, redis, kind in ((Settings(), None, RateLimiter), (shared, client, RedisRateLimiter)):
            context = ChannelContext(settings, None, None, None, redis=redis)  # type: ignore[arg-type]
            assert type(context.pacer("telegram:1")) is kind
    finally:
        await client.aclose()

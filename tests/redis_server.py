"""The Redis that tests of Redis-backed parts use: skipped where unreachable, failed under CI=true.

Found at ``SOVETNIK_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
Every test gets its own key prefix, and its keys are deleted afterwards, so
tests (and test runs on one machine) never see each other's keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.store.conftest import run_async

REDIS_URL_ENV = "SOVETNIK_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_server_url() -> str:
    """The URL of the Redis the tests use."""
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


async def _probe(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


def require_redis() -> str:
    """Return the Redis URL, or skip the test (fail it when ``CI=true``)."""
    url = redis_server_url()
    try:
        run_async(lambda: _probe(url))
    except (OSError, RedisError) as exc:
        reason = f"Redis at {url} is unreachable ({type(exc).__name__}: {exc}); "
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "CI=true requires it", pytrace=False)
        pytest.skip(reason + f"start it or set {REDIS_URL_ENV} to run the Redis variants")
    return url


@dataclass(frozen=True)
class RedisSpace:
    """The test Redis and this test's own key prefix."""

    url: str
    prefix: str

    def client(self) -> Redis:
        """A new client (its own connections, as another process would have)."""
        return Redis.from_url(self.url, socket_connect_timeout=3, socket_timeout=3)

    async def keys(self, pattern: str = "*") -> list[bytes]:
        """This test's keys that match `pattern` (after the prefix)."""
        client = self.client()
        try:
            return [key async for key in client.scan_iter(match=f"{self.prefix}:{pattern}")]
        finally:
            await client.aclose()

    async def delete(self, pattern: str = "*") -> None:
        """Delete this test's keys that match `pattern`."""
        keys = await self.keys(pattern)
        if keys:
            client = self.client()
            try:
                await client.delete(*keys)
            finally:
                await client.aclose()


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """The test Redis with a fresh key prefix; the prefix's keys are deleted after the test."""
    space = RedisSpace(require_redis(), f"sovetnik-test-{uuid.uuid4().hex[:10]}")
    try:
        yield space
    finally:
        run_async(space.delete)

"""A burst of dialogs taking their Redis locks at once: more than one process's connections.

After a restart a process schedules every dialog left pending, and each asks
for its lock at the same moment. They must queue for the client's connections,
not be told that Redis is unreachable (which made them wait and retry in step).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from bots.config import Settings
from bots.locks.redis import RedisDialogLock
from bots.scale import MAX_CONNECTIONS, redis_client
from tests.redis_server import RedisSpace

pytestmark = pytest.mark.redis

DIALOGS = 300  # far more than MAX_CONNECTIONS, and than redis-py's own default pool (100)


async def test_a_burst_of_dialogs_all_get_their_locks_without_an_unreachable_warning(
        redis_space: RedisSpace, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.model_validate({"redis": {"url": redis_space.url, "prefix": redis_space.prefix}})
    client = redis_client(settings.redis)
    assert client is not None
    lock = RedisDialogLock(client, redis_space.prefix, ttl_s=15)
    held = asyncio.Event()
    taken: list[int] = []

    async def turn(n: int) -> None:
        async with lock.hold("telegram", str(n)) as lease:
            taken.append(lease.fence)
            await held.wait()  # every dialog holds its lock at once

    caplog.set_level(logging.WARNING, logger="bots.locks")
    try:
        tasks = [asyncio.create_task(turn(n)) for n in range(DIALOGS)]
        async with asyncio.timeout(30):
            while len(taken) < DIALOGS:
                await asyncio.sleep(0.01)
        assert len(set(taken)) == DIALOGS
        assert len(await redis_space.keys("lock:dialog:*")) == DIALOGS
        held.set()
        await asyncio.gather(*tasks)
    finally:
        await lock.close()
        await client.aclose()
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert MAX_CONNECTIONS < DIALOGS

"""The dialog lock contract, over every implementation (local, PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.engine import URL

from bots.locks import DialogLock, LocalDialogLock
from bots.locks.postgres import PostgresDialogLock
from bots.locks.redis import RedisDialogLock
from store import Database
from tests.locks.conftest import TEST_TTL_S, Backend
from tests.redis_server import RedisSpace

DIALOG = ("telegram", "42")


async def _turns(lock: DialogLock, key: tuple[str, str], log: list[str], name: str,
                 busy: list[int]) -> None:
    async with lock.hold(*key):
        busy.append(1)
        assert len(busy) == 1, "two holders of one dialog at once"
        log.append(f"{name} in")
        await asyncio.sleep(0.02)
        log.append(f"{name} out")
        busy.pop()


async def test_one_holder_at_a_time_in_arrival_order(backend: Backend) -> None:
    lock = await backend.make()
    log: list[str] = []
    busy: list[int] = []
    tasks = []
    for n in range(4):
        tasks.append(asyncio.create_task(_turns(lock, DIALOG, log, f"t{n}", busy)))
        await asyncio.sleep(0)  # each one queues before the next starts
    await asyncio.gather(*tasks)
    assert log == [f"t{n} {step}" for n in range(4) for step in ("in", "out")]


async def test_other_dialogs_do_not_wait(backend: Backend) -> None:
    lock = await backend.make()
    async with lock.hold(*DIALOG):
        async with asyncio.timeout(2):
            async with lock.hold("telegram", "43"), lock.hold("vk", "42"):
                pass


async def test_an_error_inside_frees_the_dialog(backend: Backend) -> None:
    lock = await backend.make()
    with pytest.raises(RuntimeError):
        async with lock.hold(*DIALOG):
            raise RuntimeError("turn failed")
    async with asyncio.timeout(2), lock.hold(*DIALOG) as lease:
        assert lease.held


async def test_a_waiter_cancelled_leaves_nothing_behind(backend: Backend) -> None:
    lock = await backend.make()
    async with lock.hold(*DIALOG):
        waiter = asyncio.create_task(_hold_briefly(lock))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with asyncio.timeout(2), lock.hold(*DIALOG):
        pass


async def _hold_briefly(lock: DialogLock) -> None:
    async with lock.hold(*DIALOG):
        await asyncio.sleep(0)


async def test_fences_grow_with_every_holding(backend: Backend) -> None:
    lock = await backend.make()
    fences = []
    for key in (DIALOG, ("webchat", "x"), DIALOG):
        async with lock.hold(*key) as lease:
            fences.append(lease.fence)
    assert fences == sorted(fences) and len(set(fences)) == 3


async def test_two_processes_take_turns_on_one_dialog(shared_backend: Backend) -> None:
    first, second = await shared_backend.make(), await shared_backend.make()
    log: list[str] = []
    busy: list[int] = []
    await asyncio.gather(*(_turns(lock, DIALOG, log, f"{name}{n}", busy)
                           for n in range(3) for name, lock in (("a", first), ("b", second))))
    assert len(log) == 12
    assert all(log[i].split()[0] == log[i + 1].split()[0] for i in range(0, 12, 2))


async def test_fences_grow_across_processes(shared_backend: Backend) -> None:
    first, second = await shared_backend.make(), await shared_backend.make()
    fences = []
    for lock in (first, second, first):
        async with lock.hold(*DIALOG) as lease:
            fences.append(lease.fence)
    assert fences == sorted(fences) and len(set(fences)) == 3


async def test_a_dead_process_frees_its_dialogs(shared_backend: Backend) -> None:
    first, second = await shared_backend.make(), await shared_backend.make()
    lease = await first.acquire(DIALOG)
    await _die(shared_backend, first)
    # The other process gets the dialog: at once (PostgreSQL) or once the lease expires (Redis).
    async with asyncio.timeout(TEST_TTL_S * 3), second.hold(*DIALOG) as taken:
        assert taken.held and taken.fence > lease.fence


async def _die(backend: Backend, lock: DialogLock) -> None:
    """What a SIGKILL leaves: no unlock, no renewal, the connection gone."""
    if isinstance(lock, RedisDialogLock):
        assert lock._renewer is not None
        lock._renewer.cancel()
    else:
        connection = lock._connection  # type: ignore[attr-defined]
        await connection.invalidate()


async def test_local_locks_are_forgotten_once_free() -> None:
    lock = LocalDialogLock()
    async with lock.hold(*DIALOG):
        waiter = asyncio.create_task(_hold_briefly(lock))
        await asyncio.sleep(0)
        assert len(lock) == 1
    await waiter
    async with lock.hold("webchat", "a"), lock.hold("webchat", "b"):
        assert len(lock) == 2
    assert len(lock) == 0


@pytest.mark.redis
async def test_a_redis_lease_outlives_its_ttl_while_renewed(redis_space: RedisSpace) -> None:
    client = redis_space.client()
    first = RedisDialogLock(client, redis_space.prefix, ttl_s=TEST_TTL_S)
    second = RedisDialogLock(client, redis_space.prefix, ttl_s=TEST_TTL_S)
    try:
        async with first.hold(*DIALOG) as lease:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(TEST_TTL_S * 2.5):
                    await second.acquire(DIALOG)
            assert lease.held
    finally:
        await first.close()
        await second.close()
        await client.aclose()


@pytest.mark.redis
async def test_a_redis_lease_taken_away_is_lost(redis_space: RedisSpace) -> None:
    client = redis_space.client()
    lock = RedisDialogLock(client, redis_space.prefix, ttl_s=TEST_TTL_S)
    try:
        async with lock.hold(*DIALOG) as lease:
            assert len(await redis_space.keys("lock:dialog:*")) == 1
            await redis_space.delete("lock:dialog:*")  # an operator's FLUSHALL, a failover
            async with asyncio.timeout(TEST_TTL_S * 2):
                while lease.held:
                    await asyncio.sleep(0.05)
    finally:
        await lock.close()
        await client.aclose()


async def test_an_unreachable_redis_makes_the_dialog_wait_not_run_unlocked() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    lock = RedisDialogLock(client, "sovetnik-test-unreachable", ttl_s=TEST_TTL_S)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5), lock.hold(*DIALOG):
                raise AssertionError("a turn ran without its lock")
        assert len(lock._local) == 0  # the waiter gave up cleanly
    finally:
        await lock.close()
        await client.aclose()


@pytest.mark.postgres
async def test_a_postgres_lease_whose_session_dies_is_lost(pg_database: URL,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bots.locks.postgres.WATCH_S", 0.05)
    db = Database.from_url(pg_database.render_as_string(hide_password=False))
    lock = PostgresDialogLock(db.engine, namespace="session-dies")
    try:
        async with lock.hold(*DIALOG) as lease:
            session = lock._connection
            assert session is not None
            pid = (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar()
            async with db.engine.connect() as admin:  # an operator, a failover, a network cut
                await admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            async with asyncio.timeout(5):
                while lease.held:
                    await asyncio.sleep(0.05)
    finally:
        await lock.close()
        await db.dispose()

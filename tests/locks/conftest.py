"""Every dialog lock implementation, as a factory of "processes" sharing one backend.

`backend.make()` builds one more lock instance with its own connections, as a
second product process would: local (which shares nothing, by design),
PostgreSQL advisory locks (skipped where unreachable, failed under CI=true)
and Redis (likewise). Redis leases here live one second, so expiry is quick.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy.engine import URL

from bots.locks import DialogLock, LocalDialogLock
from bots.locks.postgres import PostgresDialogLock
from bots.locks.redis import RedisDialogLock
from store import Database
from tests.redis_server import RedisSpace, redis_space  # noqa: F401
from tests.store.conftest import pg_database  # noqa: F401

TEST_TTL_S = 1.0


@dataclass
class Backend:
    """One lock backend: `make()` is a new process's lock on it."""

    name: str
    shared: bool
    make: Callable[[], Awaitable[DialogLock]]
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)


async def _local(backend: Backend) -> DialogLock:
    lock = LocalDialogLock()
    backend.closers.append(lock.close)
    return lock


_POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
_REDIS = pytest.param("redis", marks=pytest.mark.redis)


@pytest.fixture(params=["local", _POSTGRES, _REDIS])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each dialog lock backend in turn."""
    async for built in _backend(request):
        yield built


@pytest.fixture(params=[_POSTGRES, _REDIS])
async def shared_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend that several processes share."""
    async for built in _backend(request):
        yield built


async def _backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    backend = Backend(request.param, shared=request.param != "local", make=lambda: _local(backend))
    if request.param == "postgres":
        url: URL = request.getfixturevalue("pg_database")
        namespace = request.node.nodeid

        async def make_postgres() -> DialogLock:
            db = Database.from_url(url.render_as_string(hide_password=False))
            lock = PostgresDialogLock(db.engine, namespace=namespace)
            backend.closers += [lock.close, db.dispose]
            return lock

        backend.make = make_postgres
    elif request.param == "redis":
        space: RedisSpace = request.getfixturevalue("redis_space")

        async def make_redis() -> DialogLock:
            client = space.client()
            lock = RedisDialogLock(client, space.prefix, ttl_s=TEST_TTL_S)
            backend.closers += [lock.close, client.aclose]
            return lock

        backend.make = make_redis
    try:
        yield backend
    finally:
        for close in backend.closers:
            await close()

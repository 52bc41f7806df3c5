"""Database fixtures: every test that takes ``store_url`` runs on SQLite and PostgreSQL.

PostgreSQL is found at ``SOVETNIK_TEST_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, a user allowed to create
databases). Each test session creates its own uniquely named database there and
drops it at the end. When PostgreSQL cannot be reached the PostgreSQL variants are
skipped with the reason, or fail when ``CI=true``: CI must never go green
without having run them.

Other test packages reuse all this by importing the fixtures into their conftest::

    from tests.store.conftest import database, pg_database, store_url  # noqa: F401

or by calling ``require_postgres()`` and ``temporary_postgres_database()`` directly.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from store import Database

PG_URL_ENV = "SOVETNIK_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_CONNECT_TIMEOUT_S = 5.0

T = TypeVar("T")


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside pytest-asyncio.

    A worker thread gets its own event loop, so the test's loop is left alone.
    """

    async def runner() -> T:
        return await factory()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


def postgres_server_url() -> URL:
    """The PostgreSQL server the tests use, as a SQLAlchemy URL (plain, no driver)."""
    url = make_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)
    return url.set(drivername="postgresql")


def _dsn(url: URL, database: str | None = None) -> str:
    """An asyncpg DSN for ``url`` (optionally another database on the same server)."""
    url = url.set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _probe(url: URL) -> None:
    connection = await asyncpg.connect(_dsn(url), timeout=PG_CONNECT_TIMEOUT_S)
    await connection.close()


def require_postgres() -> URL:
    """Return the PostgreSQL server URL, or skip the test (fail it when ``CI=true``)."""
    url = postgres_server_url()
    try:
        run_async(lambda: _probe(url))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = url.render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} is unreachable ({type(exc).__name__}: {exc}); "
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "CI=true requires it", pytrace=False)
        pytest.skip(reason + f"start it or set {PG_URL_ENV} to run the PostgreSQL variants")
    return url


async def _admin(server: URL, *statements: str) -> None:
    connection = await asyncpg.connect(_dsn(server), timeout=PG_CONNECT_TIMEOUT_S)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def temporary_postgres_database(server: URL, prefix: str = "sovetnik_test") -> Iterator[URL]:
    """Create a uniquely named database, yield its ``postgresql+asyncpg`` URL, drop it."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    run_async(lambda: _admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name)
    finally:
        # Connections a failed test leaked would block the drop; end them first.
        terminate = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        run_async(lambda: _admin(server, terminate, f'DROP DATABASE IF EXISTS "{name}"'))


def empty_postgres_database(url: URL) -> None:
    """Drop everything in the database's ``public`` schema (tables, alembic_version)."""
    run_async(
        lambda: _admin(
            url.set(drivername="postgresql"),
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
        )
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """This test session's own PostgreSQL database (skipped/failed when unreachable)."""
    server = require_postgres()
    with temporary_postgres_database(server) as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database, once per backend: a temp SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    url: URL = request.getfixturevalue("pg_database")
    empty_postgres_database(url)
    return url.render_as_string(hide_password=False)


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    """A migrated ``Database`` on each backend, disposed after the test."""
    db = Database.from_url(store_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()

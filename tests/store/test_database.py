"""Database: URLs, connection settings and migrations."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from store import (
    ConnectionFailedError,
    Database,
    DatabaseURLError,
    InboxRepository,
    MessageRepository,
    StoreError,
)

SECRET = "s3cr3t-Pa55"
TABLES = {"dialogs", "messages", "inbox", "outbox"}


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import store.migrations

    config = Config()
    config.set_main_option("script_location", str(Path(store.migrations.__file__).parent))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


HEAD = _head_revision()


def _chain(exc: BaseException | None) -> list[BaseException]:
    """The exception and everything it was raised from or during."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _assert_no_secret(exc: BaseException, log_text: str) -> None:
    for link in _chain(exc):
        assert SECRET not in str(link)
        assert SECRET not in repr(link)
    assert SECRET not in log_text


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        f"://user:{SECRET}@host/db",
        f"user:{SECRET}@host/db",
        f"postgresql+asyncpg://user:{SECRET}@odd@host:bad/db",
        f"mysql+aiomysql://user:{SECRET}@host/db",
        f"postgresql+psycopg2://user:{SECRET}@host/db",
        f"postgresql+asyncpg://user:{SECRET}@host:notaport/db",
        "sqlite+pysqlite:///var/sovetnik.db",
    ],
)
def test_wrong_url_is_a_store_error_without_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as raised:
        Database.from_url(url)
    assert isinstance(raised.value, DatabaseURLError)
    assert "postgresql+asyncpg://" in str(raised.value)  # shows an example
    _assert_no_secret(raised.value, caplog.text)


def test_sqlite_folder_that_cannot_be_created_is_a_url_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseURLError, match="cannot create the folder"):
        Database.from_url(f"sqlite+aiosqlite:///{blocker / 'sub' / 'x.db'}")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (f"postgresql://bank:{SECRET}@db:5432/sov", "postgresql+asyncpg://bank:***@db:5432/sov"),
        (f"postgres://bank:{SECRET}@db/sov", "postgresql+asyncpg://bank:***@db/sov"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
    ],
)
async def test_url_without_driver_gets_the_async_one(
    given: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the SQLite case creates ./var
    db = Database.from_url(given)
    try:
        assert db.url == expected
        assert SECRET not in repr(db)
    finally:
        await db.dispose()


async def test_unreachable_database_is_a_store_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = Database.from_url(f"postgresql+asyncpg://bank:{SECRET}@127.0.0.1:1/sovetnik")
    try:
        with pytest.raises(ConnectionFailedError) as raised:
            await db.migrate()
    finally:
        await db.dispose()
    assert "bank:***@127.0.0.1:1" in str(raised.value)
    _assert_no_secret(raised.value, caplog.text)


async def test_sqlite_file_creates_parent_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "sovetnik.db"
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate()
        async with db.session() as session:
            assert (await session.scalar(sa.text("PRAGMA journal_mode"))) == "wal"
            assert (await session.scalar(sa.text("PRAGMA foreign_keys"))) == 1
            assert (await session.scalar(sa.text("PRAGMA busy_timeout"))) > 0
    finally:
        await db.dispose()
    assert path.is_file()


async def test_in_memory_sqlite_works() -> None:
    db = Database.from_url("sqlite+aiosqlite://")
    try:
        await db.migrate()
        async with db.transaction() as session:
            assert await InboxRepository(session).add("web", "m1", "d1", {"a": 1}) == 1
        async with db.session() as session:
            assert len(await InboxRepository(session).pending()) == 1
    finally:
        await db.dispose()


async def test_migrate_from_empty_and_again_is_a_no_op(store_url: str) -> None:
    db = Database.from_url(store_url)
    try:
        assert await db.current_revision() is None
        await db.migrate()
        assert await db.current_revision() == HEAD
        assert await _tables(db) >= TABLES
        async with db.transaction() as session:
            await InboxRepository(session).add("telegram", "1", "chat", {})
        await db.migrate()
        assert await db.current_revision() == HEAD
        async with db.session() as session:
            assert len(await InboxRepository(session).pending()) == 1
    finally:
        await db.dispose()


async def test_processes_migrating_at_once_both_succeed(store_url: str) -> None:
    first, second = Database.from_url(store_url), Database.from_url(store_url)
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        assert await first.current_revision() == HEAD
    finally:
        await first.dispose()
        await second.dispose()


async def test_migration_works_from_any_working_directory(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database.from_url(store_url)
    try:
        await db.migrate()
        assert await db.current_revision() == HEAD
    finally:
        await db.dispose()


async def test_foreign_keys_are_enforced_after_migrating(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await MessageRepository(session).add(9999, "in", "customer", "no such dialog")


async def test_ping(database: Database) -> None:
    await database.ping()


async def test_transaction_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await InboxRepository(session).add("telegram", "1", "chat", {})
            raise RuntimeError("crash before commit")
    async with database.session() as session:
        assert await InboxRepository(session).pending() == []

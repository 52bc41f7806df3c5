"""Connection handling: one ``Database`` per process, sessions per unit of work."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from store.errors import ConnectionFailedError, DatabaseURLError, MigrationError, StoreError

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite+aiosqlite:///var/sovetnik.db"
EXAMPLE_URLS = (
    "sqlite+aiosqlite:///var/sovetnik.db or "
    "postgresql+asyncpg://sovetnik:PASSWORD@db.example:5432/sovetnik"
)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000

# The async driver each supported backend runs on; a bare "postgresql://" gets it added.
_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_BACKEND_ALIASES = {"postgres": "postgresql"}
# Arbitrary but fixed: every process migrating the same PostgreSQL takes this lock.
_PG_MIGRATION_LOCK = 0x50766E6B


def _redact(raw: str) -> str:
    """Hide the credentials of a string SQLAlchemy could not even parse.

    Everything up to the last ``@`` goes, since an unparsable password may itself
    contain ``@``, ``:`` or ``/``.
    """
    scheme, separator, rest = raw.partition("://")
    if not separator:
        scheme, rest = "", raw
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + separator + rest


def _url_error(problem: str, shown: str) -> DatabaseURLError:
    return DatabaseURLError(f"{problem}: {shown!r}. Expected something like {EXAMPLE_URLS}")


def parse_url(raw: str) -> URL:
    """Parse and check a database URL, adding the async driver when none is named.

    Raises ``DatabaseURLError`` (never showing the password) for anything this
    package cannot run on.
    """
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError, TypeError):
        # "from None": the parser's own message may quote the raw string.
        raise _url_error("not a database URL", _redact(str(raw))) from None
    backend = _BACKEND_ALIASES.get(url.get_backend_name(), url.get_backend_name())
    shown = url.render_as_string(hide_password=True)
    if backend not in _DRIVERS:
        raise _url_error(f"unsupported database {backend!r}", shown)
    driver = url.get_driver_name() if "+" in url.drivername else _DRIVERS[backend]
    if driver != _DRIVERS[backend]:
        raise _url_error(f"{backend} must use the {_DRIVERS[backend]} driver", shown)
    return url.set(drivername=f"{backend}+{driver}")


def is_memory_sqlite(url: URL) -> bool:
    """True for SQLite URLs that name no file (``sqlite+aiosqlite://``, ``:memory:``)."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _dumps(value: Any) -> str:
    # Readable Cyrillic in SQLite's JSON text (and smaller rows) instead of \\u escapes.
    return json.dumps(value, ensure_ascii=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, *, file_backed: bool) -> None:
    """Per-connection pragmas; SQLite forgets them whenever a connection is opened."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")  # off by default, per connection
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # wait, don't fail
        if file_backed:
            # WAL lets readers proceed while one writer commits; it sticks to the file.
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL keeps every commit through a process crash (what the
            # inbox promises) and skips an fsync per commit; only an OS crash or power
            # loss can drop the newest commits. Deployments that need that too run on
            # PostgreSQL.
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _make_parent_folder(url: URL) -> None:
    folder = Path(url.database or "").expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        shown = url.render_as_string(hide_password=True)
        raise _url_error(
            f"cannot create the folder {str(folder)!r} ({exc.strerror})", shown
        ) from None


def _create_engine(url: URL, echo: bool) -> AsyncEngine:
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, echo=echo, json_serializer=_dumps, pool_pre_ping=True)
    file_backed = not is_memory_sqlite(url)
    if file_backed:
        _make_parent_folder(url)
    # SQLAlchemy ends every transaction itself (commit, or a rollback when a session or
    # connection closes with one open), so the pool's own rollback of a returned file
    # connection would only be one more trip to the driver's thread per transaction.
    # The in-memory database keeps it: its one connection is shared by all sessions.
    reset = None if file_backed else "rollback"
    engine = create_async_engine(url, echo=echo, json_serializer=_dumps, pool_reset_on_return=reset)
    event.listen(
        engine.sync_engine,
        "connect",
        lambda conn, record: _sqlite_on_connect(conn, record, file_backed=file_backed),
    )
    return engine


def _alembic_config(connection: Connection) -> Config:
    """An Alembic config that needs no alembic.ini and no particular working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    """Run ``alembic upgrade head`` on ``connection`` inside its open transaction.

    The schema change is taken under a lock, so two processes starting at once
    (the bot and the admin site, say) do not both try to create the tables.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    else:
        # Takes SQLite's write lock now and makes the DDL part of one transaction.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    command.upgrade(_alembic_config(connection), "head")
    if connection.dialect.name == "sqlite":
        _check_sqlite_foreign_keys(connection)


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # Foreign keys are off while migrating (see ``Database.migrate``), so check afterwards.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise MigrationError(f"migration left {len(broken)} rows with broken foreign keys")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class Database:
    """An async engine and its session factory for one database URL.

    Create one per process with ``Database.from_url`` and ``await db.migrate()``
    at start-up; ``await db.dispose()`` at shutdown.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an existing engine; most callers want ``from_url`` instead."""
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str = DEFAULT_URL, *, echo: bool = False) -> Database:
        """Build a ``Database`` for ``url``; raises ``DatabaseURLError`` for a bad URL.

        For a SQLite file the parent folder is created. In-memory SQLite
        (``sqlite+aiosqlite://``) shares one connection between all sessions and
        lives as long as the engine: fine for tests, not for concurrent work.
        A URL without a driver
        (``postgresql://...``, ``postgres://...``, ``sqlite:///...``) gets the
        async driver added; a different driver is refused.
        """
        return cls(_create_engine(parse_url(url), echo))

    @property
    def engine(self) -> AsyncEngine:
        """The underlying SQLAlchemy engine."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with the password masked, safe for logs."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    async def migrate(self) -> None:
        """Bring the schema up to the newest migration; a no-op when it already is.

        Raises ``ConnectionFailedError`` when the database cannot be reached and
        ``MigrationError`` when a migration fails.
        """
        log.info("migrating %s", self.url)
        async with self._connect() as connection:
            try:
                await self._migrate_on(connection)
            except StoreError:
                raise
            except Exception as exc:
                raise MigrationError(f"migrating {self.url} failed: {exc}") from exc

    async def _migrate_on(self, connection: AsyncConnection) -> None:
        if self.backend != "sqlite":
            await connection.run_sync(_upgrade)
            await connection.commit()
            return
        # SQLite batch migrations copy and drop tables; with foreign keys on, the
        # drop would cascade into child rows. The pragma only works outside a
        # transaction, and is restored before the connection goes back to the pool.
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.commit()
        try:
            await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            await connection.rollback()
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            await connection.commit()

    async def current_revision(self) -> str | None:
        """The migration the database is at, or ``None`` for an empty database."""
        async with self._connect() as connection:
            return await connection.run_sync(_current_revision)

    async def ping(self) -> None:
        """Run a trivial query; raises ``ConnectionFailedError`` when that fails."""
        try:
            async with self._engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except (DBAPIError, OSError) as exc:
            raise self._connection_error(exc) from None

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection; failing to open one becomes ``ConnectionFailedError``."""
        try:
            connection = await self._engine.connect()
        except (DBAPIError, OSError) as exc:
            raise self._connection_error(exc) from None
        try:
            yield connection
        finally:
            await connection.close()

    def _connection_error(self, exc: BaseException) -> ConnectionFailedError:
        # DBAPIError's own text drags in SQL and parameters; the driver's is enough.
        reason = getattr(exc, "orig", None) or exc
        return ConnectionFailedError(
            f"cannot use the database at {self.url}: {type(reason).__name__}: {reason}"
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Anything not committed is rolled back."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self._sessions.begin() as session:
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

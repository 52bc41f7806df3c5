"""Dialog locks as PostgreSQL advisory locks, on the store's own server.

One connection of the store's engine is kept for the locks (in autocommit, so
it never sits in an open transaction): session-level advisory locks on distinct
keys can all be held by one session, and within the process each key is held
once (see `SharedDialogLock`). `pg_try_advisory_lock` never blocks that
connection; waiting is polling. If the connection drops, the server frees its
locks: every lease held through it is marked lost as soon as the process notices
(its next statement, or a check every `WATCH_S` while it holds locks), and the
next attempt opens a new connection.

A dialog's key is a 64-bit hash of the namespace, channel and dialog key (a
collision only makes two dialogs take turns). The fence is the PostgreSQL
transaction id taken with the lock: ids only grow, across all sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bots.locks.base import DialogKey, Lease, LockUnavailable
from bots.locks.shared import SharedDialogLock

log = logging.getLogger(__name__)

#: Seconds between checks of the lock session while it holds locks.
WATCH_S = 5.0

_TRY = sa.text("SELECT CASE WHEN pg_try_advisory_lock(:key) THEN txid_current() END")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")


def advisory_key(namespace: str, key: DialogKey) -> int:
    """The signed 64-bit advisory lock key of a dialog."""
    digest = hashlib.blake2b("\0".join((namespace, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresDialogLock(SharedDialogLock):
    """Dialog locks for several processes on one PostgreSQL store."""

    def __init__(self, engine: AsyncEngine, namespace: str = "sovetnik:dialog") -> None:
        super().__init__()
        self._engine = engine
        self._namespace = namespace
        self._connection: AsyncConnection | None = None
        self._use = asyncio.Lock()  # one statement at a time on the shared connection
        self._leases: dict[DialogKey, Lease] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def _try(self, key: DialogKey) -> int | None:
        try:
            fence = await self._run(_TRY, key)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise LockUnavailable(f"PostgreSQL: {type(exc).__name__}") from exc
        return None if fence is None else int(fence)

    async def _free(self, lease: Lease) -> None:
        if self._leases.pop(lease.key, None) is None or not lease.held:
            return  # lost with its session: the server freed it already
        try:
            await self._run(_UNLOCK, lease.key)
        except (sa.exc.SQLAlchemyError, OSError):
            log.warning("could not unlock dialog %s; its session is gone, and the lock with it", lease.key)

    def _taken(self, lease: Lease) -> None:
        self._leases[lease.key] = lease
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="dialog-lock-session")

    async def _watch(self) -> None:
        """While locks are held, check their session now and then: a dropped one loses them."""
        while self._leases:
            await asyncio.sleep(WATCH_S)
            async with self._use:
                connection = self._connection
                if connection is None or not self._leases:
                    continue
                try:
                    await connection.execute(sa.text("SELECT 1"))
                except (sa.exc.SQLAlchemyError, OSError):
                    await self._drop()

    async def _run(self, statement: sa.TextClause, key: DialogKey) -> Any:
        async with self._use:
            connection = await self._connected()
            try:
                result = await connection.execute(statement, {"key": advisory_key(self._namespace, key)})
            except (sa.exc.SQLAlchemyError, OSError):
                await self._drop()
                raise
            return result.scalar()

    async def _connected(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def _drop(self) -> None:
        """The session is gone or unusable: so are its locks."""
        for lease in self._leases.values():
            lease.lose()
        if self._leases:
            log.warning("lost the PostgreSQL session holding %d dialog lock(s)", len(self._leases))
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except (sa.exc.SQLAlchemyError, OSError):
                log.debug("closing a broken lock session failed", exc_info=True)

    async def close(self) -> None:
        """Free every lock this process holds and give the connection back."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        async with self._use:
            connection, self._connection = self._connection, None
            if connection is None:
                return
            try:
                if not connection.invalidated:
                    await connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            except (sa.exc.SQLAlchemyError, OSError):
                log.debug("unlocking at close failed; closing the session frees the locks", exc_info=True)
            finally:
                await connection.close()

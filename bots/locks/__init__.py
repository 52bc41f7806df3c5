"""Per-dialog locks: one turn of a dialog at a time, in one process or across several.

`build_dialog_lock` picks the implementation from `scale.lock`; see `base` for
the interface and docs/scale.md for when to use which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.locks.base import DialogLock, Lease, LockUnavailable
from bots.locks.local import LocalDialogLock

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bots.config import Settings
    from store.db import Database

__all__ = ["DialogLock", "Lease", "LocalDialogLock", "LockUnavailable", "build_dialog_lock"]


def build_dialog_lock(settings: Settings, db: Database, redis: Redis | None = None) -> DialogLock:
    """The dialog lock `scale.lock` names, on the process's shared Redis client where it needs one."""
    kind = settings.scale.lock
    if kind == "postgres":
        from bots.locks.postgres import PostgresDialogLock

        return PostgresDialogLock(db.engine, namespace=f"{settings.redis.prefix}:dialog")
    if kind == "redis":
        from bots.locks.redis import RedisDialogLock

        if redis is None:
            raise ValueError("scale.lock: redis needs the Redis client built from redis.url")
        return RedisDialogLock(redis, settings.redis.prefix, settings.scale.lock_ttl_s)
    return LocalDialogLock()

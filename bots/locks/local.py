"""Dialog locks inside one process: an `asyncio.Lock` per busy dialog, dropped when free.

A lock exists only while someone holds or waits for it, so the table stays as
large as the number of dialogs in flight, not of dialogs ever seen.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from bots.locks.base import DialogKey, DialogLock, Lease


@dataclass
class _Entry:
    lock: asyncio.Lock
    users: int = 0  # holders and waiters


class LocalDialogLock(DialogLock):
    """The embedded default: right for exactly one process per store."""

    def __init__(self) -> None:
        self._entries: dict[DialogKey, _Entry] = {}
        self._fences = itertools.count(1)

    def __len__(self) -> int:
        """Dialogs whose lock is held or awaited right now."""
        return len(self._entries)

    async def acquire(self, key: DialogKey) -> Lease:
        """Wait in first-come order for `key` (asyncio's locks are fair)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(asyncio.Lock())
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave(key, entry)
            raise
        return Lease(key, next(self._fences))

    async def release(self, lease: Lease) -> None:
        """Free `lease`; the dialog's entry goes once nobody holds or waits for it."""
        entry = self._entries[lease.key]
        entry.lock.release()
        self._leave(lease.key, entry)

    def _leave(self, key: DialogKey, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[key]

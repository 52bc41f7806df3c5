"""What the cross-process locks have in common: local order first, then the shared lock.

Within a process the holders of a dialog queue on a `LocalDialogLock`; only the
one at its head asks the shared backend, polling with a short backoff until it
gets the lock. Different processes' waiters therefore meet only at the backend.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod

from bots.locks.base import DialogKey, DialogLock, Lease, LockUnavailable
from bots.locks.local import LocalDialogLock

log = logging.getLogger(__name__)

#: First retry after this long; each miss doubles it up to the cap. A turn takes
#: far longer than the cap, so the wait adds little to a dialog that was busy.
POLL_START_S = 0.01
POLL_CAP_S = 0.2
#: Between attempts while the server cannot be reached.
UNREACHABLE_RETRY_S = 1.0


class SharedDialogLock(DialogLock):
    """A dialog lock held in a server that every process of the product reaches."""

    def __init__(self) -> None:
        self._local = LocalDialogLock()

    async def acquire(self, key: DialogKey) -> Lease:
        """Queue behind this process's holders of `key`, then take the shared lock."""
        local = await self._local.acquire(key)
        try:
            fence = await self._wait_for(key)
        except BaseException:
            await self._local.release(local)
            raise
        lease = Lease(key, fence)
        self._taken(lease)
        return lease

    async def _wait_for(self, key: DialogKey) -> int:
        delay, unreachable = POLL_START_S, False
        while True:
            try:
                fence = await self._try(key)
            except LockUnavailable as exc:
                if not unreachable:
                    log.warning("dialog lock server unreachable (%s); dialog %s waits for it", exc, key)
                unreachable, fence = True, None
            if fence is not None:
                if unreachable:
                    log.info("dialog lock server reachable again; dialog %s goes on", key)
                return fence
            await asyncio.sleep(UNREACHABLE_RETRY_S if unreachable else delay)
            delay = min(delay * 2, POLL_CAP_S)

    async def release(self, lease: Lease) -> None:
        """Free the shared lock (unless already lost), then let this process's next holder in."""
        try:
            await self._free(lease)
        finally:
            await self._local.release(lease)

    @abstractmethod
    async def _try(self, key: DialogKey) -> int | None:
        """Take the shared lock of `key` if it is free: its fence, or None when it is not.

        Raises `LockUnavailable` when the server cannot be reached."""

    @abstractmethod
    async def _free(self, lease: Lease) -> None:
        """Give the shared lock of `lease` back; a lost or unreachable one is left to expire."""

    def _taken(self, lease: Lease) -> None:  # a hook: only some backends track leases
        """Called once `lease` is held (to renew it, or to lose it with its connection)."""

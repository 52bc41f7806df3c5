"""The interface of a dialog's lock: one turn of a dialog at a time, across processes.

`DialogLock.hold(channel, dialog_key)` is an async context manager that waits
its turn and yields a `Lease`. Implementations live beside this module:
`local` (this process only, the embedded default), `postgres` (advisory locks
on the store's own server) and `redis`. Each one serialises holders *within* a
process through a `LocalDialogLock` first, so only one task per process ever
competes for the shared lock and waiters of one process keep their order.

A lease can be lost while held: a Redis key that could not be renewed in time,
a PostgreSQL session that dropped. `Lease.held` turns false then, and whoever
loops under the lease (the engine's drain) stops at its next step. The store
stays the last guard: an inbox item is marked done by exactly one commit.

While a shared lock's server is unreachable, `hold` keeps waiting (and says so
in the log) rather than letting a turn run unlocked: order before liveness.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

DialogKey = tuple[str, str]


class LockUnavailable(Exception):
    """The lock's server cannot be reached now; taking the lock is tried again."""


@dataclass
class Lease:
    """One holding of a dialog's lock.

    `fence` grows with every holding of the same key among the processes that
    share the backend, so a write that records it can refuse an older holder's.
    """

    key: DialogKey
    fence: int
    _lost: bool = field(default=False, repr=False)

    @property
    def held(self) -> bool:
        """False once the backend says the lock may have passed to someone else."""
        return not self._lost

    def lose(self) -> None:
        """Mark the lease lost (the backend could not keep it)."""
        self._lost = True


class DialogLock(ABC):
    """Serialises the turns of each dialog; different dialogs never wait for each other."""

    @asynccontextmanager
    async def hold(self, channel: str, dialog_key: str) -> AsyncIterator[Lease]:
        """Wait until the dialog is free, hold it for the block, then free it (also on errors)."""
        lease = await self.acquire((channel, dialog_key))
        try:
            yield lease
        finally:
            await self.release(lease)

    @abstractmethod
    async def acquire(self, key: DialogKey) -> Lease:
        """Wait for and take the lock of `key`."""

    @abstractmethod
    async def release(self, lease: Lease) -> None:
        """Free a lease taken by `acquire` (a lost one too)."""

    async def close(self) -> None:  # noqa: B027 - most backends hold nothing to close
        """Free what the lock holds open (connections, renewal tasks)."""

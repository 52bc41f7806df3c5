"""Dialog locks in Redis: a key per held dialog, with an expiry that its holder renews.

Taking a lock is one script: `SET key token NX PX ttl` and, when that succeeds,
`INCR` of one fence counter, so fences grow with every holding of any dialog.
While held, a lease is renewed every third of its ttl; a renewal that finds the
key gone or someone else's, or that cannot reach Redis before the ttl has run
out, marks the lease lost. A process that dies stops renewing, and its dialogs
are free again after at most one ttl. Freeing deletes the key only if it still
holds this lease's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bots.locks.base import DialogKey, Lease, LockUnavailable
from bots.locks.shared import SharedDialogLock

log = logging.getLogger(__name__)

_TAKE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('incr', KEYS[2])
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_FREE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisDialogLock(SharedDialogLock):
    """Dialog locks for several processes sharing one Redis."""

    def __init__(self, redis: Redis, prefix: str = "sovetnik", ttl_s: float = 15.0) -> None:
        super().__init__()
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = int(ttl_s * 1000)
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._free_script = redis.register_script(_FREE)
        self._tokens: dict[DialogKey, str] = {}
        self._held: dict[DialogKey, tuple[Lease, float]] = {}  # lease, last renewal (monotonic)
        self._renewer: asyncio.Task[None] | None = None

    def _key(self, key: DialogKey) -> str:
        channel, dialog_key = key
        return f"{self._prefix}:lock:dialog:{channel}:{dialog_key}"

    async def _try(self, key: DialogKey) -> int | None:
        token = secrets.token_hex(16)  # kept only if the lock is taken with it
        try:
            fence = await self._take(keys=[self._key(key), f"{self._prefix}:lock:fence"],
                                     args=[token, self._ttl_ms])
        except RedisError as exc:
            raise LockUnavailable(f"Redis: {type(exc).__name__}") from exc
        if not fence:
            return None
        self._tokens[key] = token
        return int(fence)

    def _taken(self, lease: Lease) -> None:
        self._held[lease.key] = (lease, time.monotonic())
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_all(), name="dialog-lock-renewal")

    async def _free(self, lease: Lease) -> None:
        self._held.pop(lease.key, None)
        token = self._tokens.pop(lease.key, None)
        if token is None or not lease.held:
            return
        try:
            await self._free_script(keys=[self._key(lease.key)], args=[token])
        except RedisError:
            log.warning("could not free dialog lock %s; it expires by itself", lease.key)

    async def _renew_all(self) -> None:
        period = self._ttl_ms / 3000
        while self._held:
            await asyncio.sleep(period)
            for key, (lease, renewed) in list(self._held.items()):
                await self._renew_one(key, lease, renewed)

    async def _renew_one(self, key: DialogKey, lease: Lease, renewed: float) -> None:
        token = self._tokens.get(key)
        if token is None or not lease.held or not self._holds(key, lease):
            return  # freed (and perhaps taken again) since the round began
        started = time.monotonic()
        try:
            kept = await self._renew(keys=[self._key(key)], args=[token, self._ttl_ms])
        except RedisError as exc:
            kept = started - renewed < self._ttl_ms / 1000  # unreachable: still ours until the ttl
            log.warning("renewing dialog lock %s failed: %s", key, type(exc).__name__)
            if kept:
                return
        if not kept:
            log.warning("dialog lock %s expired before its turn ended", key)
            lease.lose()
            if self._holds(key, lease):
                del self._held[key]
        elif self._holds(key, lease):
            self._held[key] = (lease, started)

    def _holds(self, key: DialogKey, lease: Lease) -> bool:
        held = self._held.get(key)
        return held is not None and held[0] is lease

    async def close(self) -> None:
        """Stop renewing and free every lock still held (the client is its owner's to close)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for lease, _ in list(self._held.values()):
            await self._free(lease)

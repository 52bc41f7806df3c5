"""The web chat's rate counters in Redis: every process counts a client's and an IP's messages together.

A key's hits are a sorted set scored by the Redis server's clock (microseconds),
trimmed to the window on every check and expiring with it, so nothing needs
pruning. While Redis is unreachable a process counts alone, as the embedded
default does (logged once): flood limits must never stop the chat.
"""

from __future__ import annotations

import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bots.web.flood import HitWindow, LocalWindow

log = logging.getLogger(__name__)

# KEYS: the counter. ARGV: window (µs). Returns the hits within the window.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""
# KEYS: the counter. ARGV: window (µs), a unique member.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.floor(ARGV[1] / 1000) + 1000)
return 1
"""


class RedisWindow(HitWindow):
    """One kind of counter (`name`: client, ip) shared by every process on one Redis."""

    def __init__(self, redis: Redis, name: str, limit: int, window_s: float, *, prefix: str = "sovetnik",
                 max_local_keys: int = 50_000) -> None:
        super().__init__(limit, window_s)
        self._count = redis.register_script(_COUNT)
        self._hit = redis.register_script(_HIT)
        self._prefix = f"{prefix}:flood:{name}:"
        self._window_us = round(window_s * 1_000_000)
        self._fallback = LocalWindow(limit, window_s, max_local_keys)
        self._degraded = False

    async def full(self, key: str) -> bool:
        """Whether `key` has had `limit` hits within the window, in all processes together."""
        try:
            hits = await self._count(keys=[self._prefix + key], args=[self._window_us])
        except RedisError as exc:
            self._lost(exc)
            return await self._fallback.full(key)
        self._degraded = False
        return int(hits) >= self.limit

    async def record(self, key: str) -> None:
        """Count one hit of `key` now, for every process."""
        try:
            await self._hit(keys=[self._prefix + key], args=[self._window_us, secrets.token_hex(8)])
        except RedisError as exc:
            self._lost(exc)
            await self._fallback.record(key)

    def _lost(self, exc: RedisError) -> None:
        if not self._degraded:
            log.warning("web chat flood counters: Redis unreachable (%s); counting this process alone",
                        type(exc).__name__)
            self._degraded = True

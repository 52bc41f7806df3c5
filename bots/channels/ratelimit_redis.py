"""Send pacing shared by every process of the product: one bot's slots reserved in Redis.

The same rule as `RateLimiter` — a send goes at the latest of now, the bot's
next free slot and the chat's next free slot — computed by one script on the
Redis server's clock, so processes with skewed clocks still agree. A chat's
key expires once its slot has passed: nothing to prune. When Redis cannot be
reached the process paces on its own (`RateLimiter`) until it can again: pacing
only avoids 429s, and a 429 is still honoured by the outbox.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bots.channels.ratelimit import RateLimiter, SendPacer

log = logging.getLogger(__name__)

# KEYS: the bot's slot, the chat's slot. ARGV: global and per-chat interval (µs).
# Returns the wait in µs. Timestamps in µs stay exact in Lua's doubles (< 2^53).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'),
                    tonumber(redis.call('GET', KEYS[2]) or '0'))
local ahead_ms = math.floor((at - now) / 1000) + 1000
for i = 1, 2 do
  redis.call('SET', KEYS[i], string.format('%d', at + ARGV[i]), 'PX', ahead_ms + math.floor(ARGV[i] / 1000))
end
return at - now
"""


class RedisRateLimiter(SendPacer):
    """One bot's pacing (`scope`, e.g. `telegram:123456`) across every process on one Redis."""

    def __init__(self, redis: Redis, scope: str, prefix: str = "sovetnik", *,
                 per_chat_interval_s: float = 1.0, global_per_s: float = 30.0) -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._keys = f"{prefix}:pace:{scope}"
        self._global_us = round(1_000_000 / global_per_s)
        self._chat_us = round(per_chat_interval_s * 1_000_000)
        self._fallback = RateLimiter(per_chat_interval_s, global_per_s)
        self._degraded = False

    async def wait(self, chat: str) -> None:
        """Reserve the next slot for `chat` in Redis (alone, if Redis is unreachable) and wait for it."""
        try:
            wait_us = await self._reserve(keys=[f"{self._keys}:all", f"{self._keys}:chat:{chat}"],
                                          args=[self._global_us, self._chat_us])
        except RedisError as exc:
            if not self._degraded:
                log.warning("send pacing: Redis unreachable (%s); pacing this process alone",
                            type(exc).__name__)
                self._degraded = True
            await self._fallback.wait(chat)
            return
        if self._degraded:
            log.info("send pacing: Redis is back; pacing is shared again")
            self._degraded = False
        if int(wait_us) > 0:
            await asyncio.sleep(int(wait_us) / 1_000_000)

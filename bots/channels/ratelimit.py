"""Send pacing: at most one message a second per chat and thirty a second overall.

Telegram's documented limits; going over them earns 429s. The limiter only
spaces sends out — a 429 that still happens is honoured by the outbox.

The limits are a bot's, not a process's: `SendPacer` is the interface, with
`RateLimiter` (this process) here and `RedisRateLimiter` (every process of the
product, `bots.channels.ratelimit_redis`) beside it.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable


class SendPacer(ABC):
    """Spaces one bot's sends out: per chat, and over all chats."""

    @abstractmethod
    async def wait(self, chat: str) -> None:
        """Return when a message to `chat` may be sent; reserves its slot."""


class RateLimiter(SendPacer):
    """Waits as long as needed so that both limits hold, counting this process's sends."""

    def __init__(self, per_chat_interval_s: float = 1.0, global_per_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._chat_interval = per_chat_interval_s
        self._global_interval = 1.0 / global_per_s
        self._clock = clock
        self._next_chat: dict[str, float] = {}
        self._next_global = 0.0
        self._lock = asyncio.Lock()

    async def wait(self, chat: str) -> None:
        """Return when a message to `chat` may be sent; reserves its slot."""
        async with self._lock:
            now = self._clock()
            at = max(now, self._next_global, self._next_chat.get(chat, 0.0))
            self._next_global = at + self._global_interval
            self._next_chat[chat] = at + self._chat_interval
            if len(self._next_chat) > 10_000:  # forget chats that are long idle
                self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        delay = at - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

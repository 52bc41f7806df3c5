"""What several processes of the product share beyond the store: the Redis client.

Built once from `redis:` settings by the runtime and handed to whatever needs
it (dialog locks, live events); none is built when `redis.url` is unset, and
the embedded default never imports the client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bots.config import RedisSettings

#: Seconds before a Redis call gives up: a lock or a live event must never hang a turn.
TIMEOUT_S = 5.0


def redis_client(settings: RedisSettings) -> Redis | None:
    """A client for `redis.url` (it connects lazily, on first use), or None when unset."""
    if settings.url is None:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(settings.url.get_secret_value(), socket_connect_timeout=TIMEOUT_S,
                          socket_timeout=TIMEOUT_S)

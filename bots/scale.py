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
#: Connections one process keeps to Redis at most. A burst of calls beyond it (a restart
#: scheduling every dialog left pending, each asking for its lock at once) waits for a
#: free connection, up to `TIMEOUT_S`, instead of failing as if Redis were unreachable.
MAX_CONNECTIONS = 32


def redis_client(settings: RedisSettings) -> Redis | None:
    """A client for `redis.url` (it connects lazily, on first use), or None when unset."""
    if settings.url is None:
        return None
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(settings.url.get_secret_value(), max_connections=MAX_CONNECTIONS,
                                           timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                           socket_timeout=TIMEOUT_S)
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections

"""Live events between the product's processes (web chat replies, typing).

`build_live_events` picks the implementation from `scale.events`; see `base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.events.base import LiveEvents, LiveEventsError
from bots.events.local import LocalLiveEvents

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bots.config import Settings

__all__ = ["LiveEvents", "LiveEventsError", "LocalLiveEvents", "build_live_events"]


def build_live_events(settings: Settings, redis: Redis | None = None) -> LiveEvents:
    """The live events `scale.events` names, on the process's shared Redis client where needed."""
    if settings.scale.events == "postgres":
        from sqlalchemy.engine import make_url

        from bots.events.postgres import PostgresLiveEvents

        url = make_url(settings.store.url.get_secret_value()).set(drivername="postgresql")
        return PostgresLiveEvents(url.render_as_string(hide_password=False),
                                  channel=f"{settings.redis.prefix}:events")
    if settings.scale.events == "redis":
        from bots.events.redis import RedisLiveEvents

        if redis is None:
            raise ValueError("scale.events: redis needs the Redis client built from redis.url")
        return RedisLiveEvents(redis, settings.redis.prefix)
    return LocalLiveEvents()

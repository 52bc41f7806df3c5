"""Live events over Redis pub/sub: every process subscribes to the topics it handles.

An event is one JSON message on the Redis channel `<prefix>:events:<topic>`.
One reader task per process takes messages in the order Redis delivers them
(one publisher's messages keep their order) and runs the handlers. If the
connection drops the reader reconnects and subscribes again; what was published
meanwhile is missed, as any live event may be (see `base`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from bots.events.base import LiveEvents, LiveEventsError

log = logging.getLogger(__name__)

RECONNECT_S = 0.5


class RedisLiveEvents(LiveEvents):
    """Live events shared by every process on one Redis."""

    def __init__(self, redis: Redis, prefix: str = "sovetnik") -> None:
        super().__init__()
        self._redis = redis
        self._prefix = f"{prefix}:events:"
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """PUBLISH the event; every subscribed process (this one too) handles it."""
        try:
            await self._redis.publish(self._prefix + topic, json.dumps(data, ensure_ascii=False))
        except RedisError as exc:
            raise LiveEventsError(f"Redis: {type(exc).__name__}") from exc

    async def start(self) -> None:
        """Subscribe to every registered topic, then read in the background (none: nothing to read)."""
        if not self._handlers:
            return
        self._pubsub = await self._subscribed()
        self._reader = asyncio.create_task(self._read(), name="live-events")

    async def close(self) -> None:
        """Stop reading and drop the subscription."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()

    async def _subscribed(self) -> PubSub:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        if self._handlers:
            await pubsub.subscribe(*(self._prefix + topic for topic in self._handlers))
        return pubsub

    async def _read(self) -> None:
        while True:
            try:
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("live events: Redis connection lost (%s); subscribing again",
                            type(exc).__name__)
                await self._resubscribe()
                continue
            if message is not None and message.get("type") == "message":
                await self._handle(message)

    async def _resubscribe(self) -> None:
        await asyncio.sleep(RECONNECT_S)
        old, self._pubsub = self._pubsub, None
        if old is not None:
            with contextlib.suppress(RedisError, OSError):
                await old.aclose()
        try:
            self._pubsub = await self._subscribed()
        except (RedisError, OSError):
            self._pubsub = old  # closed: the next read fails again and we retry

    async def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        topic = (channel.decode() if isinstance(channel, bytes) else str(channel)).removeprefix(self._prefix)
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("live events: a message on %s is not JSON; dropped", topic)
            return
        if isinstance(data, dict):
            await self._dispatch(topic, data)

"""Live events over PostgreSQL LISTEN/NOTIFY: no Redis needed when the store is PostgreSQL.

All topics share one notification channel; an event is JSON split into parts
that fit a notification's 8000-byte limit, all sent in one transaction, so
they arrive together and in order (PostgreSQL delivers one transaction's
notifications in order, transactions in commit order). One connection per
process listens; a queue keeps handlers in arrival order. If the connection
drops, a watchdog opens a new one and listens again; what was published
meanwhile is missed, as any live event may be (see `base`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import asyncpg

from bots.events.base import LiveEvents, LiveEventsError

log = logging.getLogger(__name__)

#: Characters of JSON per notification: at most 4 bytes each in UTF-8, under 8000 with the envelope.
PART_CHARS = 1900
WATCH_S = 1.0


class PostgresLiveEvents(LiveEvents):
    """Live events shared by every process on one PostgreSQL server."""

    def __init__(self, dsn: str, channel: str = "sovetnik:events") -> None:
        """`dsn`: the store's server (asyncpg form); `channel`: the notification channel."""
        super().__init__()
        self._dsn = dsn
        self._channel = channel
        self._publisher: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._publishing = asyncio.Lock()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._parts: dict[str, list[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """NOTIFY the event (in parts, in one transaction); every listening process handles it."""
        text = json.dumps({"topic": topic, "data": data}, ensure_ascii=False)
        chunks = [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
        event = uuid.uuid4().hex
        async with self._publishing:
            try:
                connection = await self._publishing_connection()
                async with connection.transaction():
                    for n, chunk in enumerate(chunks):
                        envelope = json.dumps({"id": event, "n": n, "of": len(chunks), "p": chunk},
                                              ensure_ascii=False)
                        await connection.execute("SELECT pg_notify($1, $2)", self._channel, envelope)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await self._close_publisher()
                raise LiveEventsError(f"PostgreSQL: {type(exc).__name__}") from exc

    async def start(self) -> None:
        """Listen, then hand events to the handlers in the background."""
        await self._listen()
        self._tasks = [asyncio.create_task(self._consume(), name="live-events"),
                       asyncio.create_task(self._watch(), name="live-events-watch")]

    async def close(self) -> None:
        """Stop listening and close both connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for connection in (self._listener, self._publisher):
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await connection.close(timeout=5)

    async def _publishing_connection(self) -> asyncpg.Connection:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await asyncpg.connect(self._dsn, timeout=5)
        return self._publisher

    async def _close_publisher(self) -> None:
        connection, self._publisher = self._publisher, None
        if connection is not None:
            connection.terminate()

    async def _listen(self) -> None:
        self._listener = await asyncpg.connect(self._dsn, timeout=5)
        await self._listener.add_listener(self._channel, self._received)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            if self._listener is not None and not self._listener.is_closed():
                continue
            log.warning("live events: the PostgreSQL listening connection is gone; listening again")
            self._parts.clear()
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live events: listening again failed (%s)", type(exc).__name__)

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            parts = self._parts.setdefault(envelope["id"], [])
            parts.append(envelope["p"])
            if len(parts) < envelope["of"]:
                return
            event = json.loads("".join(self._parts.pop(envelope["id"])))
        except (ValueError, KeyError, TypeError):
            log.warning("live events: a notification that is not ours; dropped")
            return
        if isinstance(event, dict) and isinstance(event.get("data"), dict):
            self._queue.put_nowait((str(event.get("topic")), event["data"]))

    async def _consume(self) -> None:
        while True:
            topic, data = await self._queue.get()
            await self._dispatch(topic, data)

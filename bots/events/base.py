"""The interface of live events: what one process does, every process that cares sees at once.

A web chat customer's socket is held by one process; the reply meant for them
may be sent (from the outbox) by another. `LiveEvents.publish(topic, data)`
hands `data` to the handlers that every process registered for `topic` with
`on`. Implementations live beside this module: `local` (one process, the
embedded default) and `redis` (pub/sub). Events are live and best-effort by
nature; whatever must not be lost is in the store before it is published (a
reply waits in the dialog's history; a tab that missed it gets it on reconnect).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class LiveEventsError(Exception):
    """An event could not be published (its server is unreachable)."""


class LiveEvents(ABC):
    """Publishes events to every process of the product, this one included."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, topic: str, handler: Handler) -> None:
        """Call `handler` with the data of every event published on `topic` (register before `start`)."""
        self._handlers.setdefault(topic, []).append(handler)

    @abstractmethod
    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Send an event (JSON-like `data`); raise `LiveEventsError` when it cannot go out."""

    async def start(self) -> None:  # noqa: B027 - the local implementation has nothing to start
        """Begin receiving the topics registered so far."""

    async def close(self) -> None:  # noqa: B027 - the local implementation holds nothing
        """Stop receiving."""

    async def _dispatch(self, topic: str, data: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            try:
                await handler(data)
            except Exception:  # one broken handler must not starve the others
                log.exception("live event handler for %s failed", topic)

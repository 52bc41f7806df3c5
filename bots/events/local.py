"""Live events inside one process: publishing calls the handlers directly."""

from __future__ import annotations

from typing import Any

from bots.events.base import LiveEvents


class LocalLiveEvents(LiveEvents):
    """The embedded default: exactly one process, so every handler is here."""

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Run this process's handlers of `topic` now."""
        await self._dispatch(topic, data)

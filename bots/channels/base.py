"""The interface every channel adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from bots.messages import OutboundMessage


class DeliveryError(Exception):
    """A reply could not be delivered now.

    `retry_after` (seconds) is honoured when the messenger gives one;
    `permanent` means retrying is pointless (the user blocked the bot).
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Channel(ABC):
    """A messenger connection: receives into the engine, sends from the outbox."""

    name: str

    async def start(self) -> None:  # noqa: B027 - optional hook; most channels need it
        """Begin receiving (polling, webhook registration, ...)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving and release connections."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> None:
        """Deliver one message; raise `DeliveryError` when it cannot be delivered now."""

    async def send_typing(self, dialog_key: str) -> None:  # noqa: B027 - not every messenger has it
        """Show that the agent is working, where the messenger supports it."""

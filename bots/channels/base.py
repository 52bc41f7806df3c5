"""The interface every channel adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.messages import Attachment, InboundMessage, OutboundMessage

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.routing import BaseRoute

    from bots.config import Settings
    from bots.events import LiveEvents
    from bots.handoff import HandoffService
    from bots.handover import Handover
    from store.db import Database

#: Stores an inbound message durably; the inbox id, or None for a repeated delivery.
Accept = Callable[[InboundMessage], Awaitable[int | None]]


@dataclass(frozen=True)
class ChannelContext:
    """What an adapter is built with: settings, the store, and the inbox to feed."""

    settings: Settings
    db: Database
    accept: Accept
    handoff: HandoffService
    handover: Handover | None = None  # one-time links from `redirect` channels (the web chat redeems them)
    #: Events every process of the product sees (a socket held by another process); None: this one only.
    events: LiveEvents | None = None
    #: The Redis the processes share (`redis.url`), if any.
    redis: Redis | None = None

    def pacer(self, scope: str, *, per_chat_interval_s: float = 1.0, global_per_s: float = 30.0) -> SendPacer:
        """One bot's send pacing (`scope` names the bot): shared through Redis under
        `scale.rate_limits: redis`, else this process's own."""
        if self.settings.scale.rate_limits == "redis" and self.redis is not None:
            from bots.channels.ratelimit_redis import RedisRateLimiter

            return RedisRateLimiter(self.redis, scope, self.settings.redis.prefix,
                                    per_chat_interval_s=per_chat_interval_s, global_per_s=global_per_s)
        return RateLimiter(per_chat_interval_s, global_per_s)


class DeliveryError(Exception):
    """A reply could not be delivered now.

    `retry_after` (seconds) is honoured when the messenger gives one;
    `permanent` means retrying is pointless (the user blocked the bot);
    `throttled` means the messenger asked to slow down ("too many requests"):
    the reply waits and no attempt is used up, however long that lasts.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False,
                 throttled: bool = False, remaining: OutboundMessage | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.throttled = throttled
        # What is left to send when part of a multi-part message already went out.
        self.remaining = remaining


class MediaError(Exception):
    """An attachment's content cannot be fetched (expired, unknown, network)."""


class MediaTooLarge(MediaError):
    """An attachment is bigger than the limit; refused before downloading where the size is known."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class Channel(ABC):
    """A messenger connection: receives into the engine, sends from the outbox."""

    name: str
    #: True for a channel that notifies managers (handoffs) rather than serving customers.
    managers_desk: bool = False

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP routes the web app mounts for this channel (webhooks, pages); none by default.

        An inbound route verifies the request, parses it into `InboundMessage`,
        stores it through `ChannelContext.accept`, and only then answers.
        """
        return ()

    def body_limits(self) -> Mapping[str, int]:
        """The largest request body (bytes) each of this channel's routes accepts."""
        return {}

    async def start(self) -> None:  # noqa: B027 - optional hook; most channels need it
        """Begin receiving (polling, webhook registration, ...)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving and release connections."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> None:
        """Deliver one message; raise `DeliveryError` when it cannot be delivered now."""

    async def send_typing(self, dialog_key: str) -> None:  # noqa: B027 - not every messenger has it
        """Show that the agent is working, where the messenger supports it."""

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int | None = None) -> bytes:
        """The content of a voice note or file; `MediaTooLarge` beyond `max_bytes`, `MediaError` else."""
        raise MediaError(f"channel {self.name!r} cannot fetch media")

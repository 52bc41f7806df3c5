"""The web chat channel: a page on the product's own site, JSON over WebSocket.

Protocol (every frame is a JSON object):
- client → server: `{"type": "message", "id": "<client message id>", "text": "..."}`;
  the id makes a resent message a duplicate, dropped by the inbox.
- server → client: `{"type": "ack", "id", "duplicate"}` once the message is stored;
  `{"type": "message", "author", "text", "sources", "quick_replies", "handoff"}`;
  `{"type": "typing"}` while the agent works; `{"type": "history", "messages"}`
  on connect; `{"type": "error", "text"}` for a frame it cannot take.

A reply for a customer who is not connected is not lost: it is in the dialog's
history, sent on the next connect.

The customer's tab may be connected to another process than the one that sends
the reply (several processes behind a load balancer): replies and typing go out
as live events (`bots.events`), and each process pushes them to the tabs it
holds. A reply counts as delivered once published; when it cannot be published
the outbox retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from bots.channels.base import Channel, ChannelContext, DeliveryError
from bots.events import LiveEvents, LiveEventsError, LocalLiveEvents
from bots.messages import OutboundMessage

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

log = logging.getLogger(__name__)

CHANNEL = "webchat"
#: The live events topic of frames for customers' tabs: `{"dialog_key", "frame"}`.
TOPIC = "webchat.frames"


class WebchatChannel(Channel):
    """Delivers replies to the customer's open browser tabs."""

    name = CHANNEL

    def __init__(self, context: ChannelContext | None = None, events: LiveEvents | None = None) -> None:
        """`events` reach every process (default: the context's, else this process only)."""
        self.context = context
        self._sockets: dict[str, set[WebSocket]] = {}
        self._lock = asyncio.Lock()
        self._events = events or (context.events if context is not None else None) or LocalLiveEvents()
        self._events.on(TOPIC, self._on_frame)

    def routes(self) -> Sequence[BaseRoute]:
        """The chat page at `/` and its socket at `/ws/chat` (inbound: frame → inbox → ack)."""
        if self.context is None:
            return ()
        from bots.web.webchat import routes  # the page and socket live with the web app

        return routes(self, self.context)

    async def connect(self, dialog_key: str, socket: WebSocket) -> None:
        """Register an open tab of a dialog."""
        async with self._lock:
            self._sockets.setdefault(dialog_key, set()).add(socket)

    async def disconnect(self, dialog_key: str, socket: WebSocket) -> None:
        """Forget a closed tab."""
        async with self._lock:
            tabs = self._sockets.get(dialog_key)
            if tabs is not None:
                tabs.discard(socket)
                if not tabs:
                    self._sockets.pop(dialog_key, None)

    async def send(self, message: OutboundMessage) -> None:
        """Push a reply to every open tab of the dialog, in any process (none open: it waits in history)."""
        try:
            await self._events.publish(TOPIC, {"dialog_key": message.dialog_key, "frame": frame(message)})
        except LiveEventsError as exc:
            raise DeliveryError(f"web chat: {exc}") from exc

    async def send_typing(self, dialog_key: str) -> None:
        """Show «печатает…» in the customer's tabs (a lost one is only a missed hint)."""
        try:
            await self._events.publish(TOPIC, {"dialog_key": dialog_key, "frame": {"type": "typing"}})
        except LiveEventsError:
            log.debug("typing for %s not published", dialog_key)

    async def _on_frame(self, data: dict[str, Any]) -> None:
        dialog_key, payload = data.get("dialog_key"), data.get("frame")
        if isinstance(dialog_key, str) and isinstance(payload, dict):
            await self._broadcast(dialog_key, payload)

    async def _broadcast(self, dialog_key: str, data: dict[str, Any]) -> None:
        for socket in list(self._sockets.get(dialog_key, ())):
            try:
                await socket.send_json(data)
            except Exception:  # a tab closed mid-send: it will get the history on reconnect
                log.debug("web chat tab of %s went away", dialog_key)
                with contextlib.suppress(Exception):
                    await self.disconnect(dialog_key, socket)


def frame(message: OutboundMessage) -> dict[str, Any]:
    """The `message` frame of a reply."""
    return {
        "type": "message", "author": message.author, "text": message.text,
        "sources": list(message.sources), "quick_replies": list(message.quick_replies),
        "handoff": bool(message.meta.get("handoff")),
    }


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: one web chat for the product's own site."""
    return [WebchatChannel(context)]

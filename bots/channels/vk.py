"""The VK community bot: Callback API or Bots Long Poll in, `messages.send` out.

Inbox first, whichever way events come: the Callback API route answers `ok`
only after the event is in the inbox (a store failure answers 503 with
`Retry-After`, and VK delivers again with `X-Retry-Counter`); the long-poll
loop moves `ts` past a batch only after every event of it is stored. A
repeated event is dropped by the inbox on its `event_id`.

`messages.send` gets a non-zero `random_id` derived from the outbox item and
the part, so a reply sent again after a crash (sent, but not yet marked sent)
is deduplicated by VK instead of reaching the customer twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bots.channels.base import Accept, Channel, ChannelContext, DeliveryError, MediaError
from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.channels.text import split_text
from bots.channels.vk_api import AUTH_FAILED, FLOOD_CONTROL, PERMANENT, TOO_MANY_REQUESTS, VkApi, VkApiError
from bots.channels.vk_inbound import CHANNEL, keyboard, render, to_inbound
from bots.config import VkSettings
from bots.messages import OUTBOX_ID, Attachment, OutboundMessage

log = logging.getLogger(__name__)
#: Send pacing: per chat and over all chats (the messenger's limits are per bot).
PER_CHAT_INTERVAL_S, GLOBAL_PER_S = 0.35, 20.0

CALLBACK_PATH = "/vk/callback"
MAX_CALLBACK_BYTES = 256 * 1024  # an event is a few KB
PART_LIMIT = 4000  # VK takes 4096 characters; sources are added under the last part
DOWNLOAD_LIMIT = 20 * 1024 * 1024
STORE_RETRY_AFTER_S = 5
PART_OFFSET = "vk_part_offset"  # meta of a remainder: how many parts already went out
RENDERED = "vk_rendered"  # meta of a remainder: its text is already rendered


class VkChannel(Channel):
    """One community: receives private messages, sends replies with keyboards."""

    name = CHANNEL

    def __init__(self, settings: VkSettings, accept: Accept, api: VkApi | None = None,
                 limiter: SendPacer | None = None) -> None:
        if settings.group_id is None:
            raise ValueError("channels.vk.group_id is required")
        self.settings = settings
        self.accept = accept
        self.api = api or VkApi(settings)
        # VK allows a community about 20 calls a second; a person sees one message at a time anyway.
        self.limiter = limiter or RateLimiter(PER_CHAT_INTERVAL_S, GLOBAL_PER_S)
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start Bots Long Poll; in callback mode VK calls `/vk/callback` instead."""
        if self.settings.mode == "longpoll":
            self._stopping.clear()
            self._poller = asyncio.create_task(self._poll(), name="vk-longpoll")

    async def stop(self) -> None:
        """Stop polling and close the HTTP session."""
        self._stopping.set()
        if self._poller:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.api.close()

    # -- inbound: Callback API --------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The Callback API route, in callback mode only."""
        if self.settings.mode != "callback":
            return ()
        return [Route(CALLBACK_PATH, self._callback, methods=["POST"])]

    def body_limits(self) -> Mapping[str, int]:
        """Events are small: a bigger body is refused before it is buffered."""
        return {CALLBACK_PATH: MAX_CALLBACK_BYTES}

    async def _callback(self, request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(event, dict) or event.get("group_id") != self.settings.group_id:
            return PlainTextResponse("rejected", status_code=403)
        if event.get("type") == "confirmation":
            assert self.settings.confirmation is not None  # required in callback mode
            return PlainTextResponse(self.settings.confirmation.get_secret_value())
        if not self.secret_ok(event.get("secret")):
            return PlainTextResponse("rejected", status_code=403)
        retry = request.headers.get("X-Retry-Counter")
        try:
            await self._feed(event)
        except Exception:
            log.exception("VK event %s not stored (retry %s); VK will deliver it again",
                          event.get("event_id"), retry or 0)
            return PlainTextResponse("retry", status_code=503,
                                     headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
        return PlainTextResponse("ok")  # only now: the event is in the inbox

    def secret_ok(self, value: object) -> bool:
        """Constant-time check of the event's `secret`."""
        secret = self.settings.secret
        if secret is None or not isinstance(value, str):
            return False
        return hmac.compare_digest(value.encode(), secret.get_secret_value().encode())

    async def _feed(self, event: dict[str, Any]) -> None:
        """Store one event; one that cannot be read is logged and skipped (retrying cannot help).

        Store failures propagate, so the event is delivered again, never skipped.
        """
        try:
            inbound = to_inbound(event)
        except (KeyError, TypeError, ValueError, ValidationError):
            log.exception("VK event %s cannot be read; skipped", event.get("event_id"))
            return
        if inbound is not None:
            await self.accept(inbound)

    # -- inbound: Bots Long Poll --------------------------------------------------------

    async def _poll(self) -> None:
        server: dict[str, Any] | None = None  # address, key and ts; a failure retries the same ts
        failures = 0
        while not self._stopping.is_set():
            try:
                if server is None:
                    server = await self._long_poll_server()
                server = await self._poll_once(server)
                failures = 0
            except asyncio.CancelledError:
                raise
            except VkApiError as exc:
                if exc.code == AUTH_FAILED:
                    log.error("VK rejected the community token: check channels.vk.token")
                    return
                failures += 1
                await self._pause(failures, exc)
            except Exception as exc:  # network, VK, or our store: retry the same ts, never skip
                failures += 1
                await self._pause(failures, exc)

    async def _long_poll_server(self) -> dict[str, Any]:
        answer = await self.api.call("groups.getLongPollServer", group_id=self.settings.group_id)
        return {"server": str(answer["server"]), "key": str(answer["key"]), "ts": str(answer["ts"])}

    async def _poll_once(self, server: dict[str, Any]) -> dict[str, Any]:
        """One long-poll round; the server state (address, key, ts) to use next."""
        answer = await self.api.long_poll(server["server"], server["key"], server["ts"])
        failed = answer.get("failed")
        if failed == 1:  # history outdated: continue from the ts VK gives
            return {**server, "ts": str(answer["ts"])}
        if failed in (2, 3):  # key expired (2) or information lost (3): ask for a new key
            fresh = await self._long_poll_server()
            return fresh if failed == 3 else {**fresh, "ts": server["ts"]}
        for update in answer.get("updates") or []:
            if isinstance(update, dict):
                await self._feed(update)
        # Only now, with the batch in the inbox, may VK forget it.
        return {**server, "ts": str(answer["ts"])}

    async def _pause(self, failures: int, exc: Exception) -> None:
        delay = min(30.0, 0.5 * 2 ** min(failures, 6))
        log.warning("VK long poll failed (%s); retrying in %.1f s", type(exc).__name__, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    # -- outbound ---------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> None:
        """Deliver in ≤4000-character parts; the keyboard goes with the last one."""
        peer = int(message.dialog_key)
        text = message.text if message.meta.get(RENDERED) else render(message)
        parts = split_text(text, PART_LIMIT) or [""]
        offset = int(message.meta.get(PART_OFFSET, 0))
        markup = keyboard(message)
        for n, part in enumerate(parts):
            await self.limiter.wait(message.dialog_key)
            try:
                await self._send_part(peer, part, _random_id(message, peer, offset + n, part),
                                      markup if n == len(parts) - 1 else None)
            except DeliveryError as exc:
                if n:  # the customer has the first parts: retry only the rest, with their own ids
                    meta = {**message.meta, PART_OFFSET: offset + n, RENDERED: True}
                    exc.remaining = message.model_copy(update={"text": "\n\n".join(parts[n:]),
                                                               "meta": meta})
                raise

    async def _send_part(self, peer: int, text: str, random_id: int, markup: str | None) -> None:
        try:
            await self.api.call("messages.send", peer_id=peer, message=text, random_id=random_id,
                                keyboard=markup)
        except VkApiError as exc:
            if exc.code in (TOO_MANY_REQUESTS, FLOOD_CONTROL):
                raise DeliveryError(str(exc), retry_after=1.0) from exc
            raise DeliveryError(str(exc), permanent=exc.code in PERMANENT) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"VK unreachable: {type(exc).__name__}") from exc

    async def send_typing(self, dialog_key: str) -> None:
        """«печатает…» while the agent works; failures do not matter."""
        with contextlib.suppress(Exception):
            await self.api.call("messages.setActivity", peer_id=int(dialog_key), type="typing")

    # -- media ----------------------------------------------------------------------------

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int | None = None) -> bytes:
        """Download a voice note (`link_ogg`) or file from VK's own hosts only."""
        url = attachment.media_ref
        if not url or not self._media_host_ok(url):
            raise MediaError("the attachment has no VK media link")
        limit = min(max_bytes or DOWNLOAD_LIMIT, DOWNLOAD_LIMIT)
        try:
            return await self.api.download(url, limit)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaError(f"download failed: {type(exc).__name__}") from exc

    def _media_host_ok(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return False
        if host == (urlsplit(self.settings.api_url).hostname or "").lower():
            return True
        return any(host == h or host.endswith("." + h) for h in self.settings.media_hosts)


def _random_id(message: OutboundMessage, peer: int, part: int, text: str) -> int:
    """A non-zero int32 that is the same every time this part of this outbox item is sent.

    The part's text is mixed in, so items of a store started afresh (ids from 1
    again) do not collide with what VK saw before.
    """
    outbox_id = message.meta.get(OUTBOX_ID)
    if outbox_id is None:  # not from the outbox: nothing to deduplicate against
        return secrets.randbelow(2**31 - 1) + 1
    digest = hashlib.sha256(f"{peer}:{outbox_id}:{part}:{text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: one community bot."""
    settings = context.settings.channels.vk
    limiter = context.pacer(f"vk:{settings.group_id}", per_chat_interval_s=PER_CHAT_INTERVAL_S,
                            global_per_s=GLOBAL_PER_S)
    return [VkChannel(settings, context.accept, limiter=limiter)]

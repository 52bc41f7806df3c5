"""The MAX bot: webhook subscription or long polling in, `POST /messages` out.

Inbox first, both ways in: the webhook route answers 200 only after the update
is in the inbox (a store failure answers 503, and MAX retries); the polling
loop passes the next `marker` only after every update of a batch is stored.
MAX has no update id, so the inbox key is the message's `body.mid`.

Sends are paced per chat and under the platform's limit per bot; a 429 is
handed to the outbox as a retry in a second. Long polling is kept at most at
two requests a second, MAX's cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bots.channels.base import Accept, Channel, ChannelContext, DeliveryError, MediaError
from bots.channels.max_api import MaxApi, MaxApiError
from bots.channels.max_inbound import CHANNEL, keyboard, render, to_inbound
from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.channels.text import split_text
from bots.config import MaxSettings
from bots.messages import Attachment, OutboundMessage

log = logging.getLogger(__name__)
#: Send pacing: per chat and over all chats (the messenger's limits are per bot).
PER_CHAT_INTERVAL_S, GLOBAL_PER_S = 0.35, 25.0

WEBHOOK_PATH = "/max/webhook"
SECRET_HEADER = "X-Max-Bot-Api-Secret"
MAX_WEBHOOK_BYTES = 256 * 1024
PART_LIMIT = 4000  # MAX's message limit
DOWNLOAD_LIMIT = 20 * 1024 * 1024
POLL_INTERVAL_S = 0.5  # at most 2 long-poll requests a second
STORE_RETRY_AFTER_S = 5
PERMANENT_STATUSES = frozenset({403, 404})  # the bot was blocked, or the chat is gone
RENDERED = "max_rendered"


class MaxChannel(Channel):
    """One MAX bot: receives dialog messages, sends replies with inline keyboards."""

    name = CHANNEL

    def __init__(self, settings: MaxSettings, accept: Accept, api: MaxApi | None = None,
                 limiter: SendPacer | None = None) -> None:
        self.settings = settings
        self.accept = accept
        self.api = api or MaxApi(settings)
        # The platform allows a bot about 30 requests a second; keep below it.
        self.limiter = limiter or RateLimiter(PER_CHAT_INTERVAL_S, GLOBAL_PER_S)
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe the webhook, or drop subscriptions and poll (the two are exclusive)."""
        if self.settings.mode == "webhook":
            assert self.settings.webhook_url and self.settings.webhook_secret
            await self.api.call("POST", "/subscriptions", body={
                "url": self.settings.webhook_url, "update_types": ["message_created"],
                "secret": self.settings.webhook_secret.get_secret_value()})
            return
        answer = await self.api.call("GET", "/subscriptions")
        for subscription in (answer or {}).get("subscriptions", []):
            await self.api.call("DELETE", "/subscriptions", params={"url": subscription.get("url")})
        self._stopping.clear()
        self._poller = asyncio.create_task(self._poll(), name="max-polling")

    async def stop(self) -> None:
        """Stop polling and close the HTTP session."""
        self._stopping.set()
        if self._poller:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.api.close()

    # -- inbound: webhook -----------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The webhook route, in webhook mode only."""
        if self.settings.mode != "webhook":
            return ()
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    def body_limits(self) -> Mapping[str, int]:
        """Updates are small: a bigger body is refused before it is buffered."""
        return {WEBHOOK_PATH: MAX_WEBHOOK_BYTES}

    def secret_ok(self, header: str | None) -> bool:
        """Constant-time check of `X-Max-Bot-Api-Secret`."""
        secret = self.settings.webhook_secret
        if secret is None or header is None:
            return False
        return hmac.compare_digest(header.encode(), secret.get_secret_value().encode())

    async def _webhook(self, request: Request) -> Response:
        if not self.secret_ok(request.headers.get(SECRET_HEADER)):
            return PlainTextResponse("rejected", status_code=401)  # before a byte of the body is read
        try:
            update = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(update, dict):
            return PlainTextResponse("bad request", status_code=400)
        try:
            await self._feed(update)
        except Exception:
            log.exception("MAX update not stored; MAX will deliver it again")
            return PlainTextResponse("retry", status_code=503,
                                     headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
        return PlainTextResponse("ok")  # only now: the update is in the inbox

    async def _feed(self, update: dict[str, Any]) -> None:
        """Store one update; one that cannot be read is logged and skipped; store failures propagate."""
        try:
            inbound = to_inbound(update)
        except (KeyError, TypeError, ValueError, ValidationError):
            log.exception("MAX update cannot be read; skipped")
            return
        if inbound is not None:
            await self.accept(inbound)

    # -- inbound: long polling ---------------------------------------------------------

    async def _poll(self) -> None:
        marker: int | None = None
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            try:
                answer = await self.api.updates(marker)
                for update in answer.get("updates") or []:
                    if isinstance(update, dict):
                        await self._feed(update)
                # Only now, with the batch in the inbox, may MAX forget it.
                if answer.get("marker") is not None:
                    marker = int(answer["marker"])
                failures = 0
                await self._wait(POLL_INTERVAL_S - (loop.time() - started))
            except asyncio.CancelledError:
                raise
            except MaxApiError as exc:
                if exc.status == 401:
                    log.error("MAX rejected the bot token: check channels.max.token")
                    return
                failures += 1
                await self._backoff(failures, exc)
            except Exception as exc:  # network, MAX, or our store: retry the same marker
                failures += 1
                await self._backoff(failures, exc)

    async def _backoff(self, failures: int, exc: Exception) -> None:
        delay = min(30.0, 0.5 * 2 ** min(failures, 6))
        log.warning("MAX polling failed (%s); retrying in %.1f s", type(exc).__name__, delay)
        await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- outbound -------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> None:
        """Deliver in ≤4000-character parts; the keyboard goes with the last one."""
        text = message.text if message.meta.get(RENDERED) else render(message)
        parts = split_text(text, PART_LIMIT) or [""]
        attachments = keyboard(message)
        for n, part in enumerate(parts):
            await self.limiter.wait(message.dialog_key)
            try:
                await self._send_part(message.dialog_key, part,
                                      attachments if n == len(parts) - 1 else [])
            except DeliveryError as exc:
                if n:  # the customer has the first parts: retry only the rest
                    exc.remaining = message.model_copy(update={
                        "text": "\n\n".join(parts[n:]), "meta": {**message.meta, RENDERED: True}})
                raise

    async def _send_part(self, chat_id: str, text: str, attachments: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"text": text}
        if attachments:
            body["attachments"] = attachments
        try:
            await self.api.call("POST", "/messages", params={"chat_id": chat_id}, body=body)
        except MaxApiError as exc:
            if exc.status == 429:
                raise DeliveryError(str(exc), retry_after=1.0) from exc
            raise DeliveryError(str(exc), permanent=exc.status in PERMANENT_STATUSES) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"MAX unreachable: {type(exc).__name__}") from exc

    async def send_typing(self, dialog_key: str) -> None:
        """«печатает…» while the agent works; failures do not matter."""
        with contextlib.suppress(Exception):
            await self.api.call("POST", f"/chats/{int(dialog_key)}/actions", body={"action": "typing_on"})

    # -- media ----------------------------------------------------------------------

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int | None = None) -> bytes:
        """Download a voice note from MAX's own hosts only."""
        url = attachment.media_ref
        if not url or not self._media_host_ok(url):
            raise MediaError("the attachment has no MAX media link")
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


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: one MAX bot."""
    settings = context.settings.channels.max
    # MAX tokens carry no public bot id: a digest names the bot without putting the token in Redis.
    token = settings.token.get_secret_value() if settings.token else ""
    scope = "max:" + hashlib.blake2b(token.encode(), digest_size=8).hexdigest()
    limiter = context.pacer(scope, per_chat_interval_s=PER_CHAT_INTERVAL_S,
                            global_per_s=GLOBAL_PER_S)
    return [MaxChannel(settings, context.accept, limiter=limiter)]

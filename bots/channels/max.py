"""The MAX bot, in one module: webhook subscription or long polling in, `POST /messages` out.

Inbox first, both ways in: the webhook route answers 200 only after the update
is in the inbox (a store failure answers 503, and MAX retries); the polling
loop passes the next `marker` only after every update of a batch is stored.
Only `message_created` in a dialog with a person becomes a message. MAX has no
update id, so the inbox key is the message's `body.mid`: a repeated delivery
(a webhook retry, a long poll after a restart) is dropped.

Sends are paced per chat and under the platform's limit per bot; a 429 is
handed to the outbox as a retry in a second. Long polling is kept at most at
two requests a second, MAX's cap.

The API client is a thin one on aiohttp (`maxapi` awaits the handler before
answering and has no 429 handling). The token goes only in the `Authorization`
header (never in a URL); errors come as an HTTP status with `{"code", "message"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bots.channels.base import Accept, Channel, ChannelContext, DeliveryError, MediaError
from bots.channels.media import HttpApi
from bots.channels.ratelimit import RateLimiter, SendPacer
from bots.channels.text import plain_text, split_text
from bots.config import MaxSettings
from bots.messages import (
    MAX_TEXT_CHARS,
    OUTBOX_ID,
    OUTBOX_INTERRUPTED_AT,
    Attachment,
    InboundMessage,
    OutboundMessage,
)

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
#: MAX's clock and ours may differ this much when looking for what a cut-off attempt sent.
CLOCK_SKEW_S = 2.0
HISTORY_COUNT = 100  # MAX's largest page of GET /messages

# The API
CALL_TIMEOUT_S = 30
POLL_TIMEOUT_S = 30  # MAX holds a long poll at most this long
POLL_LIMIT = 100

# Updates and replies
CHANNEL = "max"
BUTTONS_PER_ROW = 2
LABEL_LIMIT = 128


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
        """Deliver in ≤4000-character parts; the keyboard goes with the last one.

        MAX has no idempotency key. When an attempt may have delivered a part
        without our knowing (the process died mid-send, or the answer timed
        out), the retry first looks in the chat's history and does not send
        again what MAX already shows there.
        """
        text = message.text if message.meta.get(RENDERED) else render(message)
        parts = split_text(text, PART_LIMIT) or [""]
        attachments = keyboard(message)
        for n in range(await self._first_undelivered(message, parts), len(parts)):
            await self.limiter.wait(message.dialog_key)
            started = time.time()
            try:
                await self._send_part(message.dialog_key, parts[n],
                                      attachments if n == len(parts) - 1 else [])
            except _Unsure as exc:  # retry from this part, checking the history first
                exc.remaining = _rest(message, parts, n, since=message.meta.get(OUTBOX_INTERRUPTED_AT,
                                                                                 started))
                raise
            except DeliveryError as exc:
                if n:  # the customer has the first parts: retry only the rest
                    exc.remaining = _rest(message, parts, n, since=None)
                raise

    async def _first_undelivered(self, message: OutboundMessage, parts: list[str]) -> int:
        """How many leading `parts` a cut-off earlier attempt already delivered (0 if none was cut off)."""
        since = message.meta.get(OUTBOX_INTERRUPTED_AT)
        if since is None:
            return 0
        try:
            # The newest messages, filtered here: they hold this item's parts, as the
            # dialog's later replies wait behind it.
            answer = await self.api.call("GET", "/messages", params={
                "chat_id": message.dialog_key, "count": HISTORY_COUNT})
        except (MaxApiError, aiohttp.ClientError, TimeoutError) as exc:
            # Not knowing could mean a duplicate: try later, still knowing the attempt was cut off.
            raise DeliveryError(f"MAX history unavailable: {exc}", retry_after=5.0,
                                remaining=message) from exc
        done = 0
        for text in _bot_texts(answer, float(since) - CLOCK_SKEW_S):
            if done < len(parts) and text == parts[done]:
                done += 1
        if done:
            log.info("MAX already shows %d part(s) of outbox item %s: not sent again",
                     done, message.meta.get(OUTBOX_ID))
        return done

    async def _send_part(self, chat_id: str, text: str, attachments: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"text": text}
        if attachments:
            body["attachments"] = attachments
        try:
            await self.api.call("POST", "/messages", params={"chat_id": chat_id}, body=body)
        except MaxApiError as exc:
            if exc.status == 429:
                raise DeliveryError(str(exc), retry_after=1.0, throttled=True) from exc
            raise DeliveryError(str(exc), permanent=exc.status in PERMANENT_STATUSES) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Unsure(f"MAX unreachable: {type(exc).__name__}") from exc

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


class _Unsure(DeliveryError):
    """A send whose outcome is unknown: MAX may have delivered it before the answer was lost."""


def _rest(message: OutboundMessage, parts: list[str], n: int, since: float | None) -> OutboundMessage:
    """What is left from part `n` on; `since` marks an attempt whose outcome is unknown."""
    meta = {k: v for k, v in message.meta.items() if k != OUTBOX_INTERRUPTED_AT}
    if since is not None:
        meta[OUTBOX_INTERRUPTED_AT] = since
    if not n:  # all of it, as it was: split again, it gives the same parts
        return message.model_copy(update={"meta": meta})
    return message.model_copy(update={"text": "\n\n".join(parts[n:]), "meta": {**meta, RENDERED: True}})


def _bot_texts(answer: Any, since_s: float) -> list[str]:
    """Texts of the bot's own messages in a `GET /messages` answer from `since_s` on, oldest first."""
    messages = [m for m in (answer or {}).get("messages") or [] if isinstance(m, dict)]
    mine = [m for m in messages if (m.get("sender") or {}).get("is_bot")
            and int(m.get("timestamp") or 0) >= since_s * 1000]
    mine.sort(key=lambda m: int(m.get("timestamp") or 0))
    return [str((m.get("body") or {}).get("text") or "") for m in mine]


# -- the MAX API ---------------------------------------------------------------------------


class MaxApiError(Exception):
    """An error answer of the MAX Bot API: the HTTP status and MAX's code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"MAX API {status} {code}: {message}")
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        """Too many requests, or MAX itself failing: worth trying again later."""
        return self.status == 429 or self.status >= 500


class MaxApi(HttpApi):
    """Calls the Bot API with the bot's token; one HTTP session, opened on first use."""

    def __init__(self, settings: MaxSettings) -> None:
        if settings.token is None:
            raise ValueError("channels.max.token is required")
        self._token = settings.token
        self._base = settings.api_url.rstrip("/")
        super().__init__()

    async def call(self, http_method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """The JSON answer of one request; `MaxApiError` for an error status."""
        headers = {"Authorization": self._token.get_secret_value()}
        if body is not None:
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        data = None if body is None else json.dumps(body, ensure_ascii=False)
        async with self.session.request(http_method, f"{self._base}{path}", params=query,
                                        headers=headers, data=data,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            text = await response.text()
            answer = json.loads(text) if text else {}
            if response.status >= 400:
                error = answer if isinstance(answer, dict) else {}
                raise MaxApiError(response.status, str(error.get("code", "")), str(error.get("message", "")))
            return answer

    async def updates(self, marker: int | None) -> dict[str, Any]:
        """One long poll: `{"updates": [...], "marker": N}`."""
        answer = await self.call("GET", "/updates", params={
            "marker": marker, "timeout": POLL_TIMEOUT_S, "limit": POLL_LIMIT, "types": "message_created"},
            timeout_s=POLL_TIMEOUT_S + 10)
        if not isinstance(answer, dict):
            raise MaxApiError(200, "bad.answer", "unexpected /updates answer")
        return answer



# -- updates in, replies out --------------------------------------------------------------------------


def to_inbound(update: dict[str, Any]) -> InboundMessage | None:
    """The channel-neutral form of a `message_created` update in a dialog; None for anything else."""
    if update.get("update_type") != "message_created":
        return None
    message = update.get("message")
    if not isinstance(message, dict):
        raise ValueError("message_created without message")
    recipient, sender = message.get("recipient") or {}, message.get("sender") or {}
    body = message.get("body") or {}
    if recipient.get("chat_type") != "dialog" or sender.get("is_bot"):
        return None
    mid = str(body["mid"])
    stamp = message.get("timestamp") or update.get("timestamp")
    return InboundMessage(
        channel=CHANNEL, external_update_id=mid, external_message_id=mid,
        dialog_key=str(int(recipient["chat_id"])), user_ref=str(int(sender["user_id"])),
        text=str(body.get("text") or "")[:MAX_TEXT_CHARS],
        attachments=_attachments(body.get("attachments") or []),
        received_at=datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else datetime.now(UTC),
        raw={"first_name": sender.get("first_name") or sender.get("name")},
    )


def _attachments(items: list[Any]) -> tuple[Attachment, ...]:
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
            continue
        kind, payload = item.get("type"), item["payload"]
        if kind == "audio" and payload.get("url"):
            return (Attachment(kind="voice", media_ref=str(payload["url"]), mime_type="audio/ogg",
                               duration_s=item.get("duration")),)
        if kind == "file" and payload.get("url"):
            return (Attachment(kind="file", media_ref=str(payload["url"]), size_bytes=item.get("size"),
                               name=item.get("filename")),)
    return ()


def render(message: OutboundMessage) -> str:
    """The reply as this messenger shows it: plain text (`bots.channels.text.plain_text`)."""
    return plain_text(message)


def keyboard(message: OutboundMessage) -> list[dict[str, Any]]:
    """Quick replies as an inline keyboard of `message` buttons (a tap sends the label as text)."""
    labels = [q[:LABEL_LIMIT] for q in message.quick_replies]
    if not labels:
        return []
    rows = [[{"type": "message", "text": label} for label in labels[i : i + BUTTONS_PER_ROW]]
            for i in range(0, len(labels), BUTTONS_PER_ROW)]
    return [{"type": "inline_keyboard", "payload": {"buttons": rows}}]


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: one MAX bot."""
    settings = context.settings.channels.max
    # MAX tokens carry no public bot id: a digest names the bot without putting the token in Redis.
    token = settings.token.get_secret_value() if settings.token else ""
    scope = "max:" + hashlib.blake2b(token.encode(), digest_size=8).hexdigest()
    limiter = context.pacer(scope, per_chat_interval_s=PER_CHAT_INTERVAL_S,
                            global_per_s=GLOBAL_PER_S)
    return [MaxChannel(settings, context.accept, limiter=limiter)]

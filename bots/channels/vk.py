"""The VK community bot, in one module: Callback API or Bots Long Poll in, `messages.send` out.

Inbox first, whichever way events come: the Callback API route answers `ok`
only after the event is in the inbox (a store failure answers 503 with
`Retry-After`, and VK delivers again with `X-Retry-Counter`); the long-poll
loop moves `ts` past a batch only after every event of it is stored, and
only then saves it as the community's cursor (`channel_cursors`): a restarted
process takes a new server and key from VK but resumes from that `ts`, so
events VK handed to a process killed before storing them, and those sent while
no process ran, are asked for again. A
repeated event is dropped by the inbox on its `event_id`, the same in both
ways in. Only `message_new` from a person in a private dialog becomes a
message; group chats (peer ids from 2e9) and other communities are ignored.

`messages.send` gets a non-zero `random_id` derived from the outbox item and
the part, so a reply sent again after a crash (sent, but not yet marked sent)
is deduplicated by VK instead of reaching the customer twice.

The API client is a thin one on aiohttp (`vkbottle` answers `ok` before
handling and stores nothing, so it does not fit the inbox-first design).
Methods are POSTed as forms to `{api_url}/method/{name}` with the token in the
body (never in a URL, so it stays out of proxies' and our logs); error 6 (too
many requests per second) is retried after a short, growing pause.
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
from bots.config import VkSettings
from bots.messages import MAX_TEXT_CHARS, OUTBOX_ID, Attachment, InboundMessage, OutboundMessage
from store.db import Database
from store.repositories import CursorRepository

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

# The API
TOO_MANY_REQUESTS = 6
AUTH_FAILED = 5
FLOOD_CONTROL = 9
#: The user cannot receive the bot's messages (blocked it, privacy, never wrote).
PERMANENT = frozenset({7, 900, 901, 902})
RATE_RETRIES = 3
RATE_PAUSE_S = 0.4
CALL_TIMEOUT_S = 30
LONG_POLL_WAIT_S = 25

# Updates and replies
CHANNEL = "vk"
CHAT_PEER_MIN = 2_000_000_000  # peer ids of group chats start here
LABEL_LIMIT = 40  # VK refuses longer button labels
BUTTONS_PER_ROW = 2


class VkChannel(Channel):
    """One community: receives private messages, sends replies with keyboards."""

    name = CHANNEL

    def __init__(self, settings: VkSettings, accept: Accept, api: VkApi | None = None,
                 limiter: SendPacer | None = None, db: Database | None = None) -> None:
        if settings.group_id is None:
            raise ValueError("channels.vk.group_id is required")
        self.settings = settings
        self.accept = accept
        self.db = db  # keeps the long-poll cursor; without it a restart starts from VK's current ts
        self.cursor_key = f"longpoll:{settings.group_id}"
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
        saved: str | None = None  # the ts stored as the cursor
        failures = 0
        while not self._stopping.is_set():
            try:
                if server is None:
                    server, saved = await self._resumed(await self._long_poll_server())
                server = await self._poll_once(server)
                # Only now, with the batch in the inbox, may a restart skip it.
                if server["ts"] != saved:
                    await self._save_cursor(server["ts"])
                    saved = server["ts"]
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

    async def _resumed(self, server: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """VK's fresh server and key, from the stored `ts` when there is one; and the stored ts.

        VK keeps events for a while, so it serves again what a killed process
        never stored (the inbox drops what it already has); when it no longer
        has them it answers "history outdated" (see `_poll_once`). Without a
        stored ts, VK's current one is stored before the first batch comes, so
        a process killed while storing that batch asks for it again too.
        """
        if self.db is None:
            return server, None
        async with self.db.session() as session:
            stored = await CursorRepository(session).get(CHANNEL, self.cursor_key)
        ahead = (stored is not None and stored.isdigit() and server["ts"].isdigit()
                 and int(stored) > int(server["ts"]))  # not this server's history
        if stored is None or ahead:
            await self._save_cursor(server["ts"])
            return server, server["ts"]
        log.info("VK long poll resumes from the stored ts %s (VK's current one is %s)",
                 stored, server["ts"])
        return {**server, "ts": stored}, stored

    async def _poll_once(self, server: dict[str, Any]) -> dict[str, Any]:
        """One long-poll round; the server state (address, key, ts) to use next."""
        answer = await self.api.long_poll(server["server"], server["key"], server["ts"])
        failed = answer.get("failed")
        if failed == 1:  # history outdated: continue from the ts VK gives
            log.warning("VK no longer has long-poll events from ts %s; continuing from ts %s, "
                        "events in between may have been missed", server["ts"], answer.get("ts"))
            return {**server, "ts": str(answer["ts"])}
        if failed in (2, 3):  # key expired (2) or information lost (3): ask for a new key
            fresh = await self._long_poll_server()
            if failed == 3:
                log.warning("VK lost the long-poll information; continuing from ts %s, events "
                            "after ts %s may have been missed", fresh["ts"], server["ts"])
                return fresh
            return {**fresh, "ts": server["ts"]}
        for update in answer.get("updates") or []:
            if isinstance(update, dict):
                await self._feed(update)
        # Only now, with the batch in the inbox, may VK forget it.
        return {**server, "ts": str(answer["ts"])}

    async def _save_cursor(self, ts: str) -> None:
        """Remember where a restarted poller resumes (everything before `ts` is stored).

        A failure propagates; the poller goes on and tries again after the next
        round, and a restart meanwhile asks for a batch again (the inbox drops
        its repeats): the cursor may lag what is stored, never run ahead of it.
        """
        if self.db is None:
            return
        async with self.db.transaction() as session:
            await CursorRepository(session).put(CHANNEL, self.cursor_key, ts)

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
                raise DeliveryError(str(exc), retry_after=1.0, throttled=True) from exc
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


# -- the VK API ---------------------------------------------------------------------------


class VkApiError(Exception):
    """An error answer of the VK API, with its code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"VK API error {code}: {message}")
        self.code = code


class VkApi(HttpApi):
    """Calls VK API methods with the community token; one HTTP session, opened on first use."""

    def __init__(self, settings: VkSettings) -> None:
        if settings.token is None:
            raise ValueError("channels.vk.token is required")
        self._token = settings.token
        self._base = settings.api_url.rstrip("/")
        self._version = settings.api_version
        super().__init__()

    async def call(self, method: str, **params: Any) -> Any:
        """The method's `response`; `VkApiError` for an error answer (error 6 retried first)."""
        for attempt in range(RATE_RETRIES + 1):
            try:
                return await self._call_once(method, params)
            except VkApiError as exc:
                if exc.code != TOO_MANY_REQUESTS or attempt == RATE_RETRIES:
                    raise
                await asyncio.sleep(RATE_PAUSE_S * 2 ** attempt)
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        form = {k: _form_value(v) for k, v in params.items() if v is not None}
        form["access_token"] = self._token.get_secret_value()
        form["v"] = self._version
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
        async with self.session.post(f"{self._base}/method/{method}", data=form,
                                     timeout=timeout) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise VkApiError(-1, f"unexpected answer to {method}")
        if "error" in body:
            error = body["error"] if isinstance(body["error"], dict) else {}
            raise VkApiError(int(error.get("error_code", -1)), str(error.get("error_msg", "")))
        return body.get("response")

    async def long_poll(self, server: str, key: str, ts: str) -> dict[str, Any]:
        """One Bots Long Poll request: `{ts, updates}` or `{failed, ts?}`."""
        timeout = aiohttp.ClientTimeout(total=LONG_POLL_WAIT_S + 10)
        params = {"act": "a_check", "key": key, "ts": ts, "wait": str(LONG_POLL_WAIT_S)}
        async with self.session.get(server, params=params, timeout=timeout) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise VkApiError(-1, "unexpected long poll answer")
        return body



def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- updates in, replies out --------------------------------------------------------------------------


def to_inbound(event: dict[str, Any]) -> InboundMessage | None:
    """The channel-neutral form of a `message_new` event; None for anything else."""
    if event.get("type") != "message_new":
        return None
    obj = event.get("object")
    message = obj.get("message") if isinstance(obj, dict) else None
    if not isinstance(message, dict):
        raise ValueError("message_new without object.message")
    peer, sender = int(message["peer_id"]), int(message["from_id"])
    if peer >= CHAT_PEER_MIN or sender <= 0:
        return None
    event_id = str(event.get("event_id") or f"m{peer}:{message['id']}")
    text = str(message.get("text") or "")
    return InboundMessage(
        channel=CHANNEL, external_update_id=event_id, external_message_id=str(message.get("id", "")),
        dialog_key=str(peer), user_ref=str(sender), text=text[:MAX_TEXT_CHARS],
        attachments=_attachments(message.get("attachments") or []),
        received_at=datetime.fromtimestamp(int(message.get("date") or 0), UTC)
        if message.get("date") else datetime.now(UTC),
        raw={"payload": message.get("payload")} if message.get("payload") else {},
    )


def _attachments(items: list[Any]) -> tuple[Attachment, ...]:
    for item in items:
        if not isinstance(item, dict):
            continue
        kind, body = item.get("type"), item.get(item.get("type") or "")
        if not isinstance(body, dict):
            continue
        if kind == "audio_message" and body.get("link_ogg"):
            return (Attachment(kind="voice", media_ref=str(body["link_ogg"]), mime_type="audio/ogg",
                               duration_s=body.get("duration")),)
        if kind == "doc" and body.get("url"):
            return (Attachment(kind="file", media_ref=str(body["url"]), size_bytes=body.get("size"),
                               name=body.get("title")),)
        if kind == "photo" and body.get("sizes"):
            largest = max(body["sizes"], key=lambda s: int(s.get("width", 0)) * int(s.get("height", 0)))
            return (Attachment(kind="image", media_ref=str(largest.get("url") or "")),)
    return ()


def render(message: OutboundMessage) -> str:
    """The reply as this messenger shows it: plain text (`bots.channels.text.plain_text`)."""
    return plain_text(message)


def keyboard(message: OutboundMessage) -> str | None:
    """Quick replies as a one-time keyboard; an agent's reply without them hides the old one."""
    labels = [q[:LABEL_LIMIT] for q in message.quick_replies]
    rows = [[{"action": {"type": "text", "label": label}, "color": "secondary"} for label in
             labels[i : i + BUTTONS_PER_ROW]] for i in range(0, len(labels), BUTTONS_PER_ROW)]
    if not rows and message.author != "agent":
        return None
    return json.dumps({"one_time": True, "buttons": rows[:10]}, ensure_ascii=False)


def build(context: ChannelContext) -> list[Channel]:
    """The registry's factory: one community bot."""
    settings = context.settings.channels.vk
    limiter = context.pacer(f"vk:{settings.group_id}", per_chat_interval_s=PER_CHAT_INTERVAL_S,
                            global_per_s=GLOBAL_PER_S)
    return [VkChannel(settings, context.accept, limiter=limiter, db=context.db)]

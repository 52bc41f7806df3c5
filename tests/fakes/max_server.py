"""A loopback fake of the MAX Bot API, spoken the way MAX speaks it.

Tests run the product's real MAX channel against it::

    async with FakeMax() as mx:
        settings = {"api_url": mx.base_url, "token": mx.token, ...}
        mx.push_text(42, "Привет")                 # served by GET /updates
        [reply] = await mx.wait_sent(1)
        await mx.post_webhook(url, mx.text_update(42, "Привет"), secret)   # or the webhook

Requests carry the token in ``Authorization`` (a token in the query is refused,
as MAX does since 2025); errors are an HTTP status with ``{"code", "message"}``.
``GET /updates`` serves pushed updates after ``marker`` with long-poll
semantics and counts requests per second (MAX caps them at 2); ``GET
/messages`` lists a chat's messages, newest first. ``hold_sends`` holds sends
so a test can kill the bot between MAX sending a message and the bot hearing so.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._server import LoopbackServer, SendHold

__all__ = ["DEFAULT_TOKEN", "FakeMax"]

DEFAULT_TOKEN = "max-bot-token-for-tests"
MAX_MESSAGE_CHARS = 4000
BOT_USER_ID = 900001


class FakeMax(LoopbackServer):
    """The Bot API of one MAX bot: messages, subscriptions, long polling, media."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.updates: list[dict[str, Any]] = []  # every pushed update; marker = how many were served
        self.sent: list[dict[str, Any]] = []
        self.actions: list[tuple[int, str]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.poll_times: list[float] = []
        self.media: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self._failures: list[list[Any]] = []  # [path, status, times]
        self._mids = itertools.count(1)
        self.hold = SendHold(self._notify)
        self.waiting_polls = 0  # long polls being held open right now
        self.history_reads = 0  # GET /messages calls

    # ------------------------------------------------------------ test API

    @property
    def base_url(self) -> str:
        """What `channels.max.api_url` points at."""
        return self.root_url

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages sent to one chat, oldest first."""
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def fail_next(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests to `path` with HTTP `status`."""
        self._failures.append([path, status, times])

    def hold_sends(self, mode: str) -> None:
        """Hold `POST /messages` "before" or "after" the message reaches the customer."""
        self.hold.hold(mode)

    def release_sends(self) -> None:
        """Let held sends go; send normally from now on."""
        self.hold.release()

    async def wait_held(self, n: int = 1, timeout: float = 10.0) -> None:
        """Until `n` sends are being held."""
        if not await self._wait_until(lambda: self.hold.held >= n, timeout):
            raise AssertionError(f"expected {n} held sends, got {self.hold.held}")

    async def wait_poll_open(self, timeout: float = 10.0) -> None:
        """Until a long poll is waiting for updates (a push now is answered at once)."""
        if not await self._wait_until(lambda: self.waiting_polls > 0, timeout):
            raise AssertionError("no long poll is waiting")

    def add_media(self, name: str, data: bytes) -> str:
        """Serve `data` at a media URL; returns it."""
        self.media[name] = data
        return f"{self.root_url}/media/{name}"

    def text_update(self, chat_id: int, text: str, *, user_id: int | None = None,
                    attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A `message_created` update from a person in a dialog with the bot."""
        now = int(time.time() * 1000)
        user = user_id or chat_id
        body: dict[str, Any] = {"mid": f"mid.{next(self._mids):016x}", "seq": 1, "text": text}
        if attachments:
            body["attachments"] = attachments
        return {"update_type": "message_created", "timestamp": now, "user_locale": "ru",
                "message": {"sender": {"user_id": user, "first_name": "Мария", "is_bot": False},
                            "recipient": {"chat_id": chat_id, "chat_type": "dialog", "user_id": BOT_USER_ID},
                            "timestamp": now, "body": body}}

    def voice_update(self, chat_id: int, data: bytes) -> dict[str, Any]:
        """A voice note (an `audio` attachment) whose file this fake serves."""
        url = self.add_media(f"audio{len(self.media) + 1}.ogg", data)
        return self.text_update(chat_id, "", attachments=[{"type": "audio",
                                                          "payload": {"url": url, "token": "t"}}])

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for long polling."""
        self.updates.append(update)
        self._notify()
        return update

    def push_text(self, chat_id: int, text: str) -> dict[str, Any]:
        """Queue a customer's text for long polling."""
        return self.push(self.text_update(chat_id, text))

    async def post_webhook(self, url: str, update: dict[str, Any], secret: str | None) -> int:
        """POST `update` to a webhook as MAX does; returns the HTTP status."""
        headers = {} if secret is None else {"X-Max-Bot-Api-Secret": secret}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def wait_sent(self, n: int, timeout: float = 10.0, chat_id: int | None = None
                        ) -> list[dict[str, Any]]:
        """The first `n` sent messages (to `chat_id`); fails after `timeout` s."""
        def matching() -> list[dict[str, Any]]:
            return self.sent if chat_id is None else self.sent_to(chat_id)

        if not await self._wait_until(lambda: len(matching()) >= n, timeout):
            raise AssertionError(f"expected {n} sent messages, got {len(matching())}: {matching()}")
        return matching()[:n]

    async def wait_polls(self, n: int, timeout: float = 10.0) -> None:
        """Until `n` long polls have been made."""
        if not await self._wait_until(lambda: len(self.poll_times) >= n, timeout):
            raise AssertionError(f"expected {n} polls, got {len(self.poll_times)}")

    # ------------------------------------------------------------ protocol

    def _setup_routes(self, app: web.Application) -> None:
        routes: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.Response]]] = {
            ("GET", "/me"): self._me,
            ("GET", "/updates"): self._get_updates,
            ("POST", "/messages"): self._send,
            ("GET", "/messages"): self._messages,
            ("GET", "/subscriptions"): self._list_subscriptions,
            ("POST", "/subscriptions"): self._subscribe,
            ("DELETE", "/subscriptions"): self._unsubscribe,
            ("POST", "/chats/{chat_id}/actions"): self._action,
        }
        for (method, path), handler in routes.items():
            app.router.add_route(method, path, self._guarded(path, handler))
        app.router.add_get("/media/{name}", self._media)

    def _guarded(self, path: str, handler: Callable[[web.Request], Awaitable[web.Response]]
                 ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            if "access_token" in request.query or request.headers.get("Authorization") != self.token:
                return _error(401, "verify.token", "Invalid access_token")
            for failure in self._failures:
                if failure[0] == path and failure[2] > 0:
                    failure[2] -= 1
                    return _error(failure[1], "too.many.requests" if failure[1] == 429 else "internal",
                                  "Too many requests" if failure[1] == 429 else "error")
            return await handler(request)
        return guarded

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response({"user_id": BOT_USER_ID, "first_name": "Банк", "name": "Банк",
                                  "username": "bank_bot", "is_bot": True,
                                  "last_activity_time": int(time.time() * 1000)})

    async def _get_updates(self, request: web.Request) -> web.Response:
        self.poll_times.append(time.monotonic())
        self._notify()
        marker = int(request.query.get("marker") or 0)
        timeout = min(float(request.query.get("timeout", "30")), 90.0)
        limit = min(int(request.query.get("limit", "100")), 1000)
        self.waiting_polls += 1
        self._notify()
        try:
            await self._wait_until(lambda: len(self.updates) > marker, timeout)
        finally:
            self.waiting_polls -= 1
        batch = self.updates[marker:marker + limit]
        return web.json_response({"updates": batch, "marker": marker + len(batch)})

    async def _send(self, request: web.Request) -> web.Response:
        chat_id = request.query.get("chat_id") or request.query.get("user_id")
        if not chat_id:
            return _error(400, "proto.payload", "chat_id or user_id is required")
        body = await request.json()
        text = body.get("text") or ""
        if len(text) > MAX_MESSAGE_CHARS:
            return _error(400, "proto.payload", "text: size must be between 0 and 4000")
        keyboard = [a["payload"]["buttons"] for a in body.get("attachments") or []
                    if a.get("type") == "inline_keyboard"]
        await self.hold.at("before")
        record = {"chat_id": int(chat_id), "text": text, "buttons": keyboard[0] if keyboard else [],
                  "mid": f"mid.bot{next(self._mids):012x}", "timestamp": int(time.time() * 1000)}
        self.sent.append(record)
        self._notify()
        await self.hold.at("after")
        return web.json_response({"message": _bot_message(record)})

    async def _messages(self, request: web.Request) -> web.Response:
        self.history_reads += 1
        chat_id = int(request.query.get("chat_id") or 0)
        count = min(int(request.query.get("count", "50")), 100)
        theirs = [u["message"] for u in self.updates if u.get("update_type") == "message_created"
                  and u["message"]["recipient"]["chat_id"] == chat_id]
        ours = [_bot_message(m) for m in self.sent_to(chat_id)]
        newest_first = sorted(theirs + ours, key=lambda m: int(m["timestamp"]), reverse=True)
        return web.json_response({"messages": newest_first[:count]})

    async def _list_subscriptions(self, request: web.Request) -> web.Response:
        return web.json_response({"subscriptions": self.subscriptions})

    async def _subscribe(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not str(body.get("url", "")).startswith("https://"):
            return _error(400, "proto.payload", "url must be HTTPS")
        self.subscriptions = [s for s in self.subscriptions if s["url"] != body["url"]] + [body]
        return web.json_response({"success": True})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        url = request.query.get("url")
        self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
        return web.json_response({"success": True})

    async def _action(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.actions.append((int(request.match_info["chat_id"]), str(body.get("action"))))
        return web.json_response({"success": True})

    async def _media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.media:
            raise web.HTTPNotFound()
        self.downloads.append(name)
        return web.Response(body=self.media[name], content_type="audio/ogg")


def _bot_message(record: dict[str, Any]) -> dict[str, Any]:
    """A message the bot sent, as MAX shows it (in the send's answer and in history)."""
    return {"sender": {"user_id": BOT_USER_ID, "first_name": "Банк", "name": "Банк", "is_bot": True,
                       "last_activity_time": record["timestamp"]},
            "recipient": {"chat_id": record["chat_id"], "chat_type": "dialog", "user_id": None},
            "timestamp": record["timestamp"],
            "body": {"mid": record["mid"], "seq": 1, "text": record["text"]}}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"code": code, "message": message}),
                        content_type="application/json")

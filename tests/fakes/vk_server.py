"""A loopback fake of the VK API for a community bot, spoken the way VK speaks it.

Tests run the product's real VK channel against it::

    async with FakeVK() as vk:
        settings = {"api_url": vk.base_url, "token": vk.token, "group_id": vk.group_id, ...}
        vk.push_text(42, "Привет")               # served by Bots Long Poll
        [reply] = await vk.wait_sent(1)
        await vk.post_callback(url, vk.text_event(42, "Привет"), secret)   # or the Callback API

Methods arrive as POSTed forms at ``/method/{name}`` with ``access_token`` and
``v``; answers are ``{"response": ...}`` or ``{"error": {"error_code",
"error_msg"}}``. ``messages.send`` needs a ``random_id`` and, like VK, sends
nothing for a non-zero one this community used within the last hour, to any
peer (it answers the first message's id); ``hold_sends`` holds sends so a test
can kill the bot between VK sending a message and the bot hearing so. Bots
Long Poll serves pushed events by ``ts``, an older one included (all events
after it, as VK keeps them a while); ``forget_events`` drops that history, so
a ``ts`` before it, or one ahead of the current, is answered ``failed: 1``
with the current ``ts``; media (voice notes) are served from
``/media/{name}``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._server import LoopbackServer, SendHold

__all__ = ["DEFAULT_TOKEN", "GROUP_ID", "FakeVK", "VKError"]

DEFAULT_TOKEN = "vk1.a.community-token-for-tests"
GROUP_ID = 219000111
MAX_MESSAGE_CHARS = 4096
MAX_LABEL_CHARS = 40
MAX_BUTTONS_PER_ROW = 5
RANDOM_ID_WINDOW_S = 3600  # VK remembers a community's random_id about this long
_ERRORS = {5: "User authorization failed: invalid access_token", 6: "Too many requests per second",
           9: "Flood control", 100: "One of the parameters specified was missing or invalid",
           901: "Can't send messages for users without permission",
           911: "Keyboard format is invalid", 914: "Message is too long"}


class VKError(Exception):
    """A VK API error answer."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(f"{code} {message or _ERRORS.get(code, '')}")
        self.code = code
        self.message = message or _ERRORS.get(code, "error")

    def response(self) -> web.Response:
        return web.json_response({"error": {"error_code": self.code, "error_msg": self.message,
                                            "request_params": []}})


@dataclass
class _Failure:
    method: str
    code: int
    times: int
    skip: int = 0


class FakeVK(LoopbackServer):
    """The VK API of one community, with Bots Long Poll and media downloads."""

    def __init__(self, token: str = DEFAULT_TOKEN, group_id: int = GROUP_ID) -> None:
        super().__init__()
        self.token = token
        self.group_id = group_id
        self.events: list[dict[str, Any]] = []  # every pushed event; its index + 1 is its ts
        self.sent: list[dict[str, Any]] = []  # messages.send calls that sent a message
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.downloads: list[str] = []
        self.media: dict[str, bytes] = {}
        self.poll_key = "lp-key-1"
        self.history_from = 1  # the oldest ts Bots Long Poll still serves
        self._failures: list[_Failure] = []
        self._seen_random: dict[int, tuple[int, float]] = {}  # random_id → (message id, when)
        self.hold = SendHold(self._notify)
        self.waiting_polls = 0  # long polls being held open right now
        self._message_ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    # ------------------------------------------------------------ test API

    @property
    def base_url(self) -> str:
        """What `channels.vk.api_url` points at."""
        return self.root_url

    def sent_to(self, peer_id: int) -> list[dict[str, Any]]:
        """Messages sent to one peer, oldest first."""
        return [m for m in self.sent if m["peer_id"] == peer_id]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of `method`."""
        return [params for name, params in self.calls if name == method]

    def fail_next(self, method: str, code: int, times: int = 1, *, skip: int = 0) -> None:
        """Answer `times` calls of `method` with VK error `code`, after `skip` that succeed."""
        self._failures.append(_Failure(method, code, times, skip))

    def hold_sends(self, mode: str) -> None:
        """Hold `messages.send` "before" or "after" the message reaches the customer."""
        self.hold.hold(mode)

    def release_sends(self) -> None:
        """Let held sends go; send normally from now on."""
        self.hold.release()

    async def wait_held(self, n: int = 1, timeout: float = 10.0) -> None:
        """Until `n` sends are being held."""
        if not await self._wait_until(lambda: self.hold.held >= n, timeout):
            raise AssertionError(f"expected {n} held sends, got {self.hold.held}")

    async def wait_poll_open(self, timeout: float = 10.0) -> None:
        """Until a long poll is waiting for events (a push now is answered at once)."""
        if not await self._wait_until(lambda: self.waiting_polls > 0, timeout):
            raise AssertionError("no long poll is waiting")

    def forget_events(self) -> None:
        """VK's long-poll history runs out: every event pushed so far is no longer served."""
        self.history_from = len(self.events) + 1

    def add_media(self, name: str, data: bytes) -> str:
        """Serve `data` at a media URL (as VK's `link_ogg`); returns the URL."""
        self.media[name] = data
        return f"{self.root_url}/media/{name}"

    def text_event(self, peer_id: int, text: str, *, payload: str | None = None,
                   attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A `message_new` event from user `peer_id` in a private dialog."""
        message: dict[str, Any] = {
            "id": next(self._message_ids), "date": int(time.time()), "peer_id": peer_id,
            "from_id": peer_id, "text": text, "attachments": attachments or [],
            "conversation_message_id": 1, "out": 0, "version": next(self._message_ids),
            "fwd_messages": [], "important": False, "is_hidden": False,
        }
        if payload is not None:
            message["payload"] = payload
        return {"group_id": self.group_id, "type": "message_new",
                "event_id": f"ev{next(self._event_ids):08x}", "v": "5.199",
                "object": {"message": message, "client_info": {"keyboard": True, "inline_keyboard": True}}}

    def voice_event(self, peer_id: int, data: bytes, duration: int = 3) -> dict[str, Any]:
        """A voice note (`audio_message`) whose OGG is served by this fake."""
        name = f"voice{len(self.media) + 1}.ogg"
        url = self.add_media(name, data)
        audio = {"id": 1, "owner_id": peer_id, "duration": duration, "link_ogg": url,
                 "link_mp3": url.replace(".ogg", ".mp3"), "access_key": "k"}
        return self.text_event(peer_id, "", attachments=[{"type": "audio_message", "audio_message": audio}])

    def push(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue an event for Bots Long Poll."""
        self.events.append(event)
        self._notify()
        return event

    def push_text(self, peer_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Queue a customer's text for Bots Long Poll."""
        return self.push(self.text_event(peer_id, text, **kwargs))

    async def post_callback(self, url: str, event: dict[str, Any], secret: str | None,
                            retry: int = 0) -> tuple[int, str, dict[str, str]]:
        """Deliver `event` to a Callback API server as VK does: (status, body, headers)."""
        body = {**event, **({"secret": secret} if secret is not None else {})}
        headers = {"X-Retry-Counter": str(retry)} if retry else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            return response.status, await response.text(), dict(response.headers)

    async def wait_sent(self, n: int, timeout: float = 10.0, peer_id: int | None = None
                        ) -> list[dict[str, Any]]:
        """The first `n` sent messages (to `peer_id`); fails after `timeout` s."""
        def matching() -> list[dict[str, Any]]:
            return self.sent if peer_id is None else self.sent_to(peer_id)

        if not await self._wait_until(lambda: len(matching()) >= n, timeout):
            raise AssertionError(f"expected {n} sent messages, got {len(matching())}: {matching()}")
        return matching()[:n]

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first `n` calls of `method`; fails after `timeout` s."""
        if not await self._wait_until(lambda: len(self.calls_of(method)) >= n, timeout):
            raise AssertionError(f"expected {n} calls of {method}, got {len(self.calls_of(method))}")
        return self.calls_of(method)[:n]

    # ------------------------------------------------------------ protocol

    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/method/{method}", self._handle_method)
        app.router.add_get("/longpoll", self._handle_long_poll)
        app.router.add_post("/longpoll", self._handle_long_poll)
        app.router.add_get("/media/{name}", self._handle_media)

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"groups.getById": self._get_by_id, "groups.getLongPollServer": self._get_long_poll_server,
                "messages.send": self._send, "messages.setActivity": self._set_activity}

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        # VK reads parameters from the query string and the form alike.
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        params = {**request.query, **form}
        try:
            if params.get("access_token") != self.token:
                raise VKError(5)
            if not params.get("v"):
                raise VKError(8, "Invalid request: v is required")
            self.calls.append((method, params))
            self._notify()
            self._raise_injected(method)
            if method == "messages.send":
                await self.hold.at("before")
            handler = self._methods().get(method)
            if handler is None:
                raise VKError(3, "Unknown method passed")
            result = handler(params)
            if method == "messages.send":
                await self.hold.at("after")
        except VKError as exc:
            return exc.response()
        return web.json_response({"response": result})

    def _raise_injected(self, method: str) -> None:
        for failure in self._failures:
            if failure.method == method and failure.times > 0:
                if failure.skip:
                    failure.skip -= 1
                    return
                failure.times -= 1
                raise VKError(failure.code)

    def _get_by_id(self, params: dict[str, Any]) -> dict[str, Any]:
        # Called with a community token and no ids: the community itself.
        return {"groups": [{"id": self.group_id, "name": "Банк", "screen_name": f"club{self.group_id}",
                            "type": "group", "is_closed": 0}], "profiles": []}

    def _get_long_poll_server(self, params: dict[str, Any]) -> dict[str, Any]:
        if int(params.get("group_id", 0)) != self.group_id:
            raise VKError(100)
        return {"key": self.poll_key, "server": f"{self.root_url}/longpoll", "ts": str(len(self.events) + 1)}

    def _send(self, params: dict[str, Any]) -> Any:
        """One message to `peer_id` (answers its id), or to each of `peer_ids` (answers a list)."""
        if "random_id" not in params:
            raise VKError(100, "One of the parameters specified was missing or invalid: random_id")
        random_id = int(params["random_id"])
        text = params.get("message", "")
        if len(text) > MAX_MESSAGE_CHARS:
            raise VKError(914)
        keyboard = json.loads(params["keyboard"]) if params.get("keyboard") else None
        _check_keyboard(keyboard)
        seen = self._seen_random.get(random_id)
        if random_id and seen and time.monotonic() - seen[1] < RANDOM_ID_WINDOW_S:
            return seen[0]  # VK: the same message, not sent again
        if params.get("peer_ids"):
            peers = [int(p) for p in str(params["peer_ids"]).split(",")]
            return [{"peer_id": peer, "message_id": self._record(peer, text, 0, keyboard),
                     "conversation_message_id": 1} for peer in peers]
        message_id = self._record(int(params.get("peer_id", 0)), text, random_id, keyboard)
        if random_id:
            self._seen_random[random_id] = (message_id, time.monotonic())
        return message_id

    def _record(self, peer: int, text: str, random_id: int, keyboard: Any) -> int:
        message_id = next(self._message_ids)
        self.sent.append({"peer_id": peer, "text": text, "random_id": random_id,
                          "keyboard": keyboard, "id": message_id})
        self._notify()
        return message_id

    def _set_activity(self, params: dict[str, Any]) -> int:
        if params.get("type") not in ("typing", "audiomessage"):
            raise VKError(100)
        return 1

    async def _handle_long_poll(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("act") != "a_check":
            return web.json_response({"failed": 4})
        if query.get("key") != self.poll_key:
            return web.json_response({"failed": 2})
        try:
            ts = int(query.get("ts", ""))
        except ValueError:
            ts = 0
        if not self.history_from <= ts <= len(self.events) + 1:  # outdated, or not yet given
            return web.json_response({"failed": 1, "ts": str(len(self.events) + 1)})
        wait = min(float(query.get("wait", "25")), 90.0)
        self.waiting_polls += 1
        self._notify()
        try:
            await self._wait_until(lambda: len(self.events) >= ts, wait)
        finally:
            self.waiting_polls -= 1
        updates = self.events[ts - 1:]
        return web.json_response({"ts": str(len(self.events) + 1), "updates": updates})

    async def _handle_media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.media:
            raise web.HTTPNotFound()
        self.downloads.append(name)
        return web.Response(body=self.media[name], content_type="audio/ogg")


def _check_keyboard(keyboard: Any) -> None:
    if keyboard is None:
        return
    if not isinstance(keyboard, dict) or not isinstance(keyboard.get("buttons"), list):
        raise VKError(911)
    for row in keyboard["buttons"]:
        if not isinstance(row, list) or len(row) > MAX_BUTTONS_PER_ROW:
            raise VKError(911)
        for button in row:
            label = (button.get("action") or {}).get("label", "")
            if not label or len(label) > MAX_LABEL_CHARS:
                raise VKError(911)

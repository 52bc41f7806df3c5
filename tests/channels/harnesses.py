"""One harness per channel adapter: the real product served over loopback, and its messenger faked.

Each harness delivers a customer's message the way its messenger does (a
Telegram webhook call, a VK Callback API event, a web chat frame), says
whether the messenger was acknowledged, and reads what the customer received.
The contract suite (`test_contract.py`) runs the same tests over all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import uvicorn

from bots.channels.base import Channel
from bots.channels.max import to_inbound as to_max_inbound
from bots.channels.vk import RATE_RETRIES
from bots.channels.vk import to_inbound as to_vk_inbound
from bots.config import Settings
from bots.messages import Attachment
from bots.runtime import Runtime
from bots.web.app import create_app
from tests.fakes._telegram_format import render
from tests.fakes.max_server import FakeMax
from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes.vk_server import FakeVK

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 20.0
SECRET = "contract-secret-1"
FORGED = "forged-secret-2"


@dataclass(frozen=True)
class Received:
    """One message as the customer sees it."""

    text: str
    buttons: tuple[str, ...] = ()


class Harness(Protocol):
    """What the contract suite needs of a channel under test."""

    runtime: Runtime
    #: The longest message the messenger shows (None: no limit).
    limit: int | None

    @property
    def channel(self) -> Channel: ...

    async def deliver(self, customer: int, text: str, uid: str, *, signed: bool = True) -> bool:
        """Deliver a customer's message; True when the channel acknowledged it."""

    def external_id(self, customer: int, uid: str) -> str:
        """The inbox key the channel stores that delivery under."""

    async def dialog_key(self, customer: int) -> str:
        """The customer's dialog key (connecting the customer where the messenger needs it)."""

    async def received(self, customer: int, n: int) -> list[Received]:
        """Every message the customer received, once there are at least `n`; fails after a while."""

    def throttle_next_send(self) -> bool:
        """Make the messenger refuse the next send as «too many requests»; False if it has no limit."""

    def voice_note(self, data: bytes) -> Attachment | None:
        """Host `data` as a customer's voice note; the attachment the channel parses (None: no media)."""

    def unknown_voice_note(self) -> Attachment | None:
        """A voice note the messenger has no file for (expired, or not its link)."""


def base_settings(root: Path, channels: dict[str, Any]) -> Settings:
    """A product process with an empty knowledge index (the agent answers without it)."""
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{root / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(root / "index")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "voice": {"model": str(root / "no-speech-model"), "audio_dir": str(root / "voice")},
        "channels": channels,
        "base_dir": root,
    })


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test process keeps its own signal handlers


@contextlib.asynccontextmanager
async def served(runtime: Runtime) -> AsyncIterator[str]:
    """`create_app(runtime)` under uvicorn on a free loopback port; yields its base URL."""
    server = _Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0,
                                   lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                assert not task.done(), "the server ended during start-up"
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


# -- Telegram: webhook calls with the secret header ------------------------------------------


@dataclass
class TelegramHarness:
    runtime: Runtime
    tg: FakeBotAPI
    url: str
    limit: int | None = 4096

    @property
    def channel(self) -> Channel:
        return self.runtime.channels["telegram"]

    async def deliver(self, customer: int, text: str, uid: str, *, signed: bool = True) -> bool:
        update = self.tg.text_update(customer, text)
        update["update_id"] = int(self.external_id(customer, uid))
        status = await self.tg.post_webhook(f"{self.url}/telegram/webhook", update,
                                            SECRET if signed else FORGED)
        return status == 200

    def external_id(self, customer: int, uid: str) -> str:
        return str(zlib.crc32(uid.encode()))

    def throttle_next_send(self) -> bool:
        self.tg.fail_next("sendMessage", 429, retry_after=1)
        return True

    def voice_note(self, data: bytes) -> Attachment | None:
        self.tg.add_file("voice-1", data)
        return Attachment(kind="voice", media_ref="voice-1", mime_type="audio/ogg")

    def unknown_voice_note(self) -> Attachment | None:
        return Attachment(kind="voice", media_ref="no-such-file", mime_type="audio/ogg")

    async def dialog_key(self, customer: int) -> str:
        return str(customer)

    async def received(self, customer: int, n: int) -> list[Received]:
        await self.tg.wait_sent(n, timeout=WAIT_S, chat_id=customer)
        sent = self.tg.sent_to(customer)
        return [Received(render(m["text"], m.get("parse_mode")), _tg_buttons(m)) for m in sent]


def _tg_buttons(message: dict[str, Any]) -> tuple[str, ...]:
    markup = message.get("reply_markup") or {}
    return tuple(b["text"] for row in markup.get("keyboard", []) for b in row)


@contextlib.asynccontextmanager
async def telegram(root: Path) -> AsyncIterator[TelegramHarness]:
    async with FakeBotAPI() as tg:
        runtime = Runtime.build(base_settings(root, {"telegram": {
            "enabled": True, "token": tg.token, "api_url": tg.base_url, "mode": "webhook",
            "webhook_url": "https://bank.example/telegram/webhook", "webhook_secret": SECRET}}))
        async with served(runtime) as url:
            yield TelegramHarness(runtime, tg, url)


# -- VK: Callback API events with the secret in the payload -------------------------------


@dataclass
class VkHarness:
    runtime: Runtime
    vk: FakeVK
    url: str
    limit: int | None = 4096

    @property
    def channel(self) -> Channel:
        return self.runtime.channels["vk"]

    async def deliver(self, customer: int, text: str, uid: str, *, signed: bool = True) -> bool:
        event = {**self.vk.text_event(customer, text), "event_id": uid}
        status, body, _ = await self.vk.post_callback(f"{self.url}/vk/callback", event,
                                                      SECRET if signed else FORGED)
        return status == 200 and body == "ok"

    def external_id(self, customer: int, uid: str) -> str:
        return uid

    def throttle_next_send(self) -> bool:
        # More refusals than the client's own short retries: the outbox must back off too.
        self.vk.fail_next("messages.send", 6, times=RATE_RETRIES + 1)
        return True

    def voice_note(self, data: bytes) -> Attachment | None:
        event = self.vk.voice_event(8000, data)
        inbound = to_vk_inbound(event)
        assert inbound is not None
        return inbound.attachments[0]

    def unknown_voice_note(self) -> Attachment | None:
        return Attachment(kind="voice", media_ref=f"{self.vk.base_url}/media/gone.ogg")

    async def dialog_key(self, customer: int) -> str:
        return str(customer)

    async def received(self, customer: int, n: int) -> list[Received]:
        await self.vk.wait_sent(n, timeout=WAIT_S, peer_id=customer)
        sent = self.vk.sent_to(customer)
        return [Received(m["text"], _vk_buttons(m)) for m in sent]


def _vk_buttons(message: dict[str, Any]) -> tuple[str, ...]:
    keyboard = message.get("keyboard") or {}
    return tuple(b["action"]["label"] for row in keyboard.get("buttons", []) for b in row)


@contextlib.asynccontextmanager
async def vk(root: Path) -> AsyncIterator[VkHarness]:
    async with FakeVK() as fake:
        runtime = Runtime.build(base_settings(root, {"vk": {
            "enabled": True, "token": fake.token, "group_id": fake.group_id, "api_url": fake.base_url,
            "mode": "callback", "confirmation": "c0nf", "secret": SECRET}}))
        async with served(runtime) as url:
            yield VkHarness(runtime, fake, url)


# -- MAX: webhook calls with X-Max-Bot-Api-Secret; no update id, the inbox key is body.mid -------


@dataclass
class MaxHarness:
    runtime: Runtime
    mx: FakeMax
    url: str
    limit: int | None = 4000

    @property
    def channel(self) -> Channel:
        return self.runtime.channels["max"]

    async def deliver(self, customer: int, text: str, uid: str, *, signed: bool = True) -> bool:
        update = self.mx.text_update(customer, text)
        update["message"]["body"]["mid"] = self.external_id(customer, uid)
        status = await self.mx.post_webhook(f"{self.url}/max/webhook", update, SECRET if signed else FORGED)
        return status == 200

    def external_id(self, customer: int, uid: str) -> str:
        return f"mid.{uid}"

    def throttle_next_send(self) -> bool:
        self.mx.fail_next("/messages", 429)
        return True

    def voice_note(self, data: bytes) -> Attachment | None:
        inbound = to_max_inbound(self.mx.voice_update(8000, data))
        assert inbound is not None
        return inbound.attachments[0]

    def unknown_voice_note(self) -> Attachment | None:
        return Attachment(kind="voice", media_ref=f"{self.mx.base_url}/media/gone.ogg")

    async def dialog_key(self, customer: int) -> str:
        return str(customer)

    async def received(self, customer: int, n: int) -> list[Received]:
        await self.mx.wait_sent(n, timeout=WAIT_S, chat_id=customer)
        return [Received(m["text"], tuple(b["text"] for row in m["buttons"] for b in row))
                for m in self.mx.sent_to(customer)]


@contextlib.asynccontextmanager
async def max_bot(root: Path) -> AsyncIterator[MaxHarness]:
    async with FakeMax() as fake:
        runtime = Runtime.build(base_settings(root, {"max": {
            "enabled": True, "token": fake.token, "api_url": fake.base_url, "mode": "webhook",
            "webhook_url": "https://bank.example/max/webhook", "webhook_secret": SECRET}}))
        async with served(runtime) as url:
            yield MaxHarness(runtime, fake, url)


# -- the web chat: a browser's signed cookie and JSON frames over the WebSocket -------------


@dataclass
class _Tab:
    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    key: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.json())
                self.changed.set()

    async def wait(self, predicate: Any) -> Any:
        async with asyncio.timeout(WAIT_S):
            while (found := predicate()) is None:
                self.changed.clear()
                await self.changed.wait()
        return found


@dataclass
class WebchatHarness:
    runtime: Runtime
    url: str
    limit: int | None = None
    tabs: dict[int, _Tab] = field(default_factory=dict)

    @property
    def channel(self) -> Channel:
        return self.runtime.channels["webchat"]

    async def _tab(self, customer: int) -> _Tab:
        if customer not in self.tabs:
            session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            async with session.get(f"{self.url}/") as page:
                page.raise_for_status()
            [cookie] = [c for c in session.cookie_jar if c.key == "sovetnik_chat"]
            ws = await session.ws_connect(f"{self.url}/ws/chat", headers={"Origin": self.url})
            tab = _Tab(session, ws, cookie.value)
            tab.reader = asyncio.create_task(tab.read())
            await tab.wait(lambda: next((f for f in tab.frames if f["type"] == "history"), None))
            self.tabs[customer] = tab
        return self.tabs[customer]

    async def deliver(self, customer: int, text: str, uid: str, *, signed: bool = True) -> bool:
        if not signed:
            return await self._forged(text, uid)
        tab = await self._tab(customer)
        await tab.ws.send_json({"type": "message", "id": uid, "text": text})
        answer = await tab.wait(lambda: next((f for f in tab.frames if f.get("id") == uid
                                              and f["type"] in ("ack", "error")), None))
        tab.frames.remove(answer)  # a repeated delivery gets its own answer
        return bool(answer["type"] == "ack")

    async def _forged(self, text: str, uid: str) -> bool:
        """A cookie the server never issued: the socket is closed before a frame is read."""
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            headers = {"Origin": self.url, "Cookie": "sovetnik_chat=someone-else.forged"}
            try:
                async with session.ws_connect(f"{self.url}/ws/chat", headers=headers) as ws:
                    await ws.send_json({"type": "message", "id": uid, "text": text})
                    async with asyncio.timeout(WAIT_S):
                        async for message in ws:
                            if message.type == aiohttp.WSMsgType.TEXT and message.json()["type"] == "ack":
                                return True
            except aiohttp.WSServerHandshakeError:
                return False
        return False

    def external_id(self, customer: int, uid: str) -> str:
        return f"{self.tabs[customer].key}:{uid}"

    def throttle_next_send(self) -> bool:
        return False  # the product's own socket: nothing to throttle it

    def voice_note(self, data: bytes) -> Attachment | None:
        return None  # the web chat takes text only

    def unknown_voice_note(self) -> Attachment | None:
        return None

    async def dialog_key(self, customer: int) -> str:
        return (await self._tab(customer)).key

    async def received(self, customer: int, n: int) -> list[Received]:
        tab = await self._tab(customer)

        def messages() -> list[dict[str, Any]] | None:
            found = [f for f in tab.frames if f["type"] == "message"]
            return found if len(found) >= n else None

        frames = await tab.wait(messages)
        return [Received(f["text"], tuple(f["quick_replies"])) for f in frames]

    async def close(self) -> None:
        for tab in self.tabs.values():
            await tab.ws.close()
            await tab.session.close()
            if tab.reader:
                await asyncio.gather(tab.reader, return_exceptions=True)


@contextlib.asynccontextmanager
async def webchat(root: Path) -> AsyncIterator[WebchatHarness]:
    runtime = Runtime.build(base_settings(root, {"webchat": {"enabled": True}}))
    async with served(runtime) as url:
        harness = WebchatHarness(runtime, url)
        try:
            yield harness
        finally:
            await harness.close()


HARNESSES = {"telegram": telegram, "webchat": webchat, "vk": vk, "max": max_bot}

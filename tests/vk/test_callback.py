"""VK through the Callback API: the web app under a real server, confirmation, secret, retries."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import uvicorn

import bots.assembly
from bots.channels.vk import VkChannel
from bots.config import ConfigError, VkSettings, load_settings
from bots.messages import InboundMessage
from bots.runtime import Runtime
from bots.web.app import create_app
from knowledge.embedder import Embedder
from store.models import InboxStatus
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import WAIT_S, free_port, inbox_of, outbox_of
from tests.vk.conftest import CALLBACK_SECRET, CONFIRMATION, vk_settings

CUSTOMER = 7002


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test process keeps its own signal handlers


@dataclass
class Served:
    runtime: Runtime
    url: str  # the callback URL of this process


@contextlib.asynccontextmanager
async def serve(runtime: Runtime) -> AsyncIterator[str]:
    """`create_app(runtime)` under uvicorn on 127.0.0.1; yields the base URL."""
    port = free_port()
    server = _Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port,
                                   lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                assert not task.done(), "the server ended during start-up"
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


@pytest.fixture
async def served(vk: FakeVK, tmp_path: Path, demo_index: Path, embedder: Embedder,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setattr(bots.assembly, "load_embedder", lambda *a, **k: embedder)
    runtime = Runtime.build(vk_settings(vk, tmp_path, demo_index, mode="callback"))
    async with serve(runtime) as url:
        yield Served(runtime, f"{url}/vk/callback")


async def test_confirmation_answers_the_configured_string(vk: FakeVK, served: Served) -> None:
    confirm = {"type": "confirmation", "group_id": vk.group_id}
    assert (await vk.post_callback(served.url, confirm, None))[:2] == (200, CONFIRMATION)
    # Another community's confirmation gets nothing of ours.
    other = {"type": "confirmation", "group_id": vk.group_id + 1}
    status, body, _ = await vk.post_callback(served.url, other, None)
    assert status == 403 and CONFIRMATION not in body
    assert vk.calls_of("groups.getLongPollServer") == []  # callback mode does not poll


async def test_an_event_without_the_secret_is_refused_and_not_stored(vk: FakeVK, served: Served) -> None:
    event = vk.text_event(CUSTOMER, "Какая сумма вкладов застрахована?")
    assert (await vk.post_callback(served.url, event, None))[0] == 403
    assert (await vk.post_callback(served.url, event, "wrong"))[0] == 403
    status, _, _ = await vk.post_callback(served.url, {"garbage": True}, CALLBACK_SECRET)
    assert status == 403
    async with aiohttp.ClientSession() as session, session.post(served.url, data=b"\xff{") as answer:
        assert answer.status == 400
    await asyncio.sleep(0.3)
    assert await inbox_of(served.runtime) == [] and vk.sent == []

    status, body, _ = await vk.post_callback(served.url, event, CALLBACK_SECRET)
    assert (status, body) == (200, "ok")
    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    assert "1,4 млн" in reply["text"]


async def test_ok_comes_only_after_the_event_is_stored_and_a_retry_is_dropped(
        vk: FakeVK, served: Served) -> None:
    event = vk.text_event(CUSTOMER, "Спасибо!")
    assert (await vk.post_callback(served.url, event, CALLBACK_SECRET))[1] == "ok"
    [item] = await inbox_of(served.runtime)  # already there when VK heard «ok»
    assert item.external_id == event["event_id"]

    # VK did not hear the answer in time and delivers again, with its retry counter.
    assert (await vk.post_callback(served.url, event, CALLBACK_SECRET, retry=1))[1] == "ok"
    await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await served.runtime.engine.idle()
    [item] = await inbox_of(served.runtime)
    assert item.status == InboxStatus.DONE
    assert len(await outbox_of(served.runtime, "vk")) == 1
    assert len(vk.sent_to(CUSTOMER)) == 1


async def test_a_store_failure_asks_vk_to_retry_later(vk: FakeVK, caplog: pytest.LogCaptureFixture) -> None:
    """The inbox could not take the event: no «ok», a Retry-After, and VK delivers again."""
    stored: list[InboundMessage] = []
    failing = [True]

    async def accept(message: InboundMessage) -> int | None:
        if failing[0]:
            raise OSError("disk full")
        stored.append(message)
        return len(stored)

    settings = VkSettings(enabled=True, token=vk.token, group_id=vk.group_id, api_url=vk.base_url,
                          mode="callback", confirmation=CONFIRMATION, secret=CALLBACK_SECRET)
    channel = VkChannel(settings, accept)
    from starlette.applications import Starlette

    app = Starlette(routes=list(channel.routes()))
    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}/vk/callback"
        event = vk.text_event(CUSTOMER, "Привет")
        with caplog.at_level(logging.ERROR):
            status, body, headers = await vk.post_callback(url, event, CALLBACK_SECRET)
        assert status == 503 and body != "ok" and headers["Retry-After"] == "5"
        failing[0] = False
        assert (await vk.post_callback(url, event, CALLBACK_SECRET, retry=1))[:2] == (200, "ok")
        assert [m.external_update_id for m in stored] == [event["event_id"]]
        assert CALLBACK_SECRET not in caplog.text
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)
        await channel.stop()


def test_callback_mode_without_its_secret_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "channels:\n"
        "  vk:\n"
        "    enabled: true\n"
        "    token: \"${VK_BOT_TOKEN}\"\n"
        "    group_id: 219000111\n"
        "    mode: callback\n"
        "    confirmation: a1b2c3d4\n"
        "    secret: ${VK_CALLBACK_SECRET}\n",
        encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={"VK_BOT_TOKEN": "t"})
    assert refused.value.key == "channels.vk"
    assert "secret" in str(refused.value)
    with pytest.raises(ConfigError) as no_token:
        load_settings(config, env={"VK_CALLBACK_SECRET": "s"})
    assert "токен" in str(no_token.value) and "VK_BOT_TOKEN" in str(no_token.value)
    ok = load_settings(config, env={"VK_BOT_TOKEN": "t", "VK_CALLBACK_SECRET": "s"})
    assert ok.channels.vk.mode == "callback"


async def test_hostile_events_get_a_clear_answer_and_the_server_keeps_running(
        vk: FakeVK, served: Served) -> None:
    broken = {"type": "message_new", "group_id": vk.group_id, "event_id": "ev-broken",
              "object": {"message": {"peer_id": "not a number", "text": 5}}}
    # Readable as VK's but not as a message: acknowledged (a retry cannot help) and skipped.
    assert (await vk.post_callback(served.url, broken, CALLBACK_SECRET))[:2] == (200, "ok")
    other = {"type": "wall_post_new", "group_id": vk.group_id, "event_id": "ev-wall", "object": {}}
    assert (await vk.post_callback(served.url, other, CALLBACK_SECRET))[:2] == (200, "ok")
    async with aiohttp.ClientSession() as session:
        huge = b'{"type": "message_new", "pad": "' + b"x" * (1024 * 1024) + b'"}'
        async with session.post(served.url, data=io.BytesIO(huge)) as answer:
            assert answer.status == 413
        async with session.post(served.url, json=[1, 2, 3]) as answer:
            assert answer.status == 403
    assert await inbox_of(served.runtime) == []

    event = vk.text_event(CUSTOMER, "Спасибо!")
    assert (await vk.post_callback(served.url, event, CALLBACK_SECRET))[1] == "ok"
    await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)

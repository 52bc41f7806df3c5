"""Webhook mode: the web app under a real server, the secret header, redeliveries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from bots.config import ConfigError, load_settings
from bots.runtime import Runtime
from bots.web.app import create_app
from store.models import InboxStatus
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import WAIT_S, free_port, inbox_of, make_settings, outbox_of, plain

CUSTOMER = 5150
PUBLIC_URL = "https://bank.example/telegram/webhook"
SECRET = "s3cr3t-webhook-token_42"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test process keeps its own signal handlers


@dataclass
class Served:
    runtime: Runtime
    url: str  # where this process listens, in place of the public URL


@pytest.fixture
async def served(tg: FakeBotAPI, tmp_path: Path, demo_index: Path) -> AsyncIterator[Served]:
    """`create_app(runtime)` under uvicorn on 127.0.0.1; the runtime starts and stops with it."""
    settings = make_settings(tg, tmp_path, demo_index, telegram={
        "mode": "webhook", "webhook_url": PUBLIC_URL, "webhook_secret": SECRET})
    runtime = Runtime.build(settings)
    port = free_port()
    server = _Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port,
                                   lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                assert not task.done(), "the server ended during start-up"
                await asyncio.sleep(0.02)
        yield Served(runtime, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


async def test_webhook_needs_the_secret_and_answers_with_it(tg: FakeBotAPI, served: Served) -> None:
    assert tg.webhook["url"] == PUBLIC_URL
    assert tg.webhook["secret_token"] == SECRET
    assert tg.webhook["allowed_updates"] == ["message"]
    assert "getUpdates" not in tg.calls
    hook = f"{served.url}/telegram/webhook"

    question = "Какая сумма вкладов застрахована?"
    assert await tg.post_webhook(hook, tg.text_update(CUSTOMER, question)) == 401
    assert await tg.post_webhook(hook, tg.text_update(CUSTOMER, question), "wrong-secret") == 401
    await asyncio.sleep(0.5)
    assert await inbox_of(served.runtime) == []
    assert tg.sent == []

    assert await tg.post_webhook(hook, tg.text_update(CUSTOMER, question), SECRET) == 200
    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "1,4 млн" in plain(reply), plain(reply)
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{served.url}/healthz")).json()
    assert health["status"] == "ok" and "telegram" in health["channels"]


async def test_a_redelivered_webhook_update_is_answered_once(tg: FakeBotAPI, served: Served) -> None:
    hook = f"{served.url}/telegram/webhook"
    update = tg.text_update(CUSTOMER, "Спасибо!")

    assert await tg.post_webhook(hook, update, SECRET) == 200
    assert await tg.post_webhook(hook, dict(update), SECRET) == 200  # Telegram retries
    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await served.runtime.engine.idle()

    assert "Пожалуйста" in plain(reply)
    [item] = await inbox_of(served.runtime)
    assert item.status == InboxStatus.DONE
    assert len(await outbox_of(served.runtime)) == 1  # no second reply was ever queued
    assert len(tg.sent_to(CUSTOMER)) == 1


def test_webhook_mode_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "channels:\n"
        "  telegram:\n"
        "    enabled: true\n"
        "    token: \"123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11\"\n"
        "    mode: webhook\n"
        f"    webhook_url: {PUBLIC_URL}\n"
        "    webhook_secret: ${TG_WEBHOOK_SECRET}\n",
        encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={})  # the variable is not set

    assert refused.value.key == "channels.telegram"
    assert "webhook_secret" in str(refused.value)
    assert load_settings(config, env={"TG_WEBHOOK_SECRET": SECRET}).channels.telegram.mode == "webhook"

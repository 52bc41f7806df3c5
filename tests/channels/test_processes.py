"""Every messenger in real processes: `sovetnik serve` runs them all; a kill mid-turn loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.max_server import FakeMax
from tests.fakes.openai_server import FakeOpenAI, delay, text
from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import REPO_ROOT, free_port, plain
from tests.telegram.test_processes import (  # noqa: F401 - the spawn fixture
    BOT_PROCESS,
    SOVETNIK,
    START_S,
    STOP_S,
    spawn,
    table,
    until,
)

CUSTOMER = 9101


def write_config(tmp_path: Path, channels: dict[str, Any], **sections: Any) -> Path:
    """A config.yaml in `tmp_path` with the given channels, SQLite and an empty index there."""
    config: dict[str, Any] = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": channels,
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def vk_config(vk: FakeVK) -> dict[str, Any]:
    return {"enabled": True, "token": vk.token, "group_id": vk.group_id, "api_url": vk.base_url}


async def test_sovetnik_serve_runs_every_enabled_messenger(tmp_path: Path, spawn: Any) -> None:  # noqa: F811
    port = free_port()
    async with FakeBotAPI() as tg, FakeVK() as vk, FakeMax() as mx:
        config = write_config(tmp_path, {
            "telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url},
            "vk": vk_config(vk),
            "max": {"enabled": True, "token": mx.token, "api_url": mx.base_url},
            "webchat": {"enabled": True},
        }, server={"host": "127.0.0.1", "port": port})
        serve = spawn(SOVETNIK, "--config", config, "serve")
        health: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=5) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + START_S
            while True:
                with contextlib.suppress(httpx.TransportError):
                    response = await client.get(f"http://127.0.0.1:{port}/healthz")
                    if response.status_code == 200:
                        health = response.json()
                        break
                assert serve.popen.poll() is None, serve.output()[-3000:]
                assert loop.time() < deadline, f"/healthz did not answer:\n{serve.output()[-3000:]}"
                await asyncio.sleep(0.2)
        assert {"telegram", "vk", "max", "webchat"} <= set(health["channels"])

        await vk.wait_calls("groups.getLongPollServer", timeout=START_S)
        await mx.wait_polls(1, timeout=START_S)
        tg.push_text(CUSTOMER, "Спасибо!")
        vk.push_text(CUSTOMER, "Спасибо!")
        mx.push_text(CUSTOMER, "Спасибо!")
        [in_tg] = await tg.wait_sent(1, timeout=START_S, chat_id=CUSTOMER)
        [in_vk] = await vk.wait_sent(1, timeout=START_S, peer_id=CUSTOMER)
        [in_max] = await mx.wait_sent(1, timeout=START_S, chat_id=CUSTOMER)
        assert all("Пожалуйста" in t for t in (plain(in_tg), in_vk["text"], in_max["text"]))

        serve.popen.send_signal(signal.SIGINT)
        exit_status = await serve.wait(STOP_S)
        output = serve.output()
        assert exit_status == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        assert vk.token not in output and mx.token not in output  # secrets never reach logs


async def test_a_vk_bot_killed_mid_turn_answers_once_after_a_restart(
        tmp_path: Path, spawn: Any) -> None:  # noqa: F811
    answer = "Для открытия вклада нужен только паспорт, оформить его можно онлайн или в отделении."
    async with FakeVK() as vk, FakeOpenAI() as llm:
        llm.script(delay(300, text("этот ответ не придёт никогда")))  # the first process hangs here
        llm.responder = lambda body: text(answer)
        config = write_config(tmp_path, {"vk": vk_config(vk)}, llm={
            "provider": "openai", "base_url": llm.base_url, "model": "local-model",
            "api_key": "sk-test", "timeout_s": 600, "turn_deadline_s": 600})
        db = tmp_path / "bot.db"
        go = tmp_path / "restart"
        first = spawn(sys.executable, BOT_PROCESS, config)
        second = spawn(sys.executable, BOT_PROCESS, config, "--after", go)
        await vk.wait_calls("groups.getLongPollServer", timeout=START_S)
        event = vk.push_text(CUSTOMER, "Какие документы нужны для открытия вклада?")
        await until(lambda: table(db, "inbox") == [(event["event_id"], "pending")], START_S,
                    "the event being stored", first)
        await until(lambda: len(llm.requests) == 1, START_S, "the agent turn starting", first)

        first.popen.send_signal(signal.SIGKILL)
        assert await first.wait(STOP_S) == -signal.SIGKILL
        await until(lambda: "standing by" in second.output(), START_S, "the restart being ready", second)
        go.touch()
        # The restarted poller asks for a fresh ts; the pending inbox item is answered by recovery.
        [reply] = await vk.wait_sent(1, timeout=START_S, peer_id=CUSTOMER)
        await until(lambda: table(db, "outbox") == [(str(CUSTOMER), "sent")], STOP_S,
                    "the reply being marked sent", second)
        await asyncio.sleep(1.0)

        assert reply["text"].startswith(answer[:40]) and reply["random_id"] != 0
        assert len(vk.sent_to(CUSTOMER)) == 1
        assert table(db, "inbox") == [(event["event_id"], "done")]
        second.popen.send_signal(signal.SIGTERM)
        assert await second.wait(STOP_S) == 0, second.output()[-3000:]

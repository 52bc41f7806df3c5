"""The product as real processes: killed mid-turn and restarted; `sovetnik serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.openai_server import FakeOpenAI, delay, text
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import MANAGERS_CHAT, REPO_ROOT, free_port, plain

CUSTOMER = 9001
START_S = 90.0  # a cold start imports aiogram, LangChain and the store: slow on a busy machine
STOP_S = 20.0
BOT_PROCESS = Path(__file__).with_name("bot_process.py")
SOVETNIK = Path(sys.executable).with_name("sovetnik")


@dataclass
class Process:
    """A product process started by a test, its output going to a file."""

    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def wait(self, timeout: float) -> int:
        """Its exit status; fails when it is still running after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.popen.poll() is None:
            if loop.time() > deadline:
                raise AssertionError(f"process {self.popen.pid} still running after {timeout} s:\n"
                                     f"{self.output()[-3000:]}")
            await asyncio.sleep(0.1)
        return self.popen.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """Starts processes; any still running after the test is killed (by its own pid)."""
    started: list[Process] = []
    env = {k: v for k, v in os.environ.items() if k != "SOVETNIK_CONFIG"}
    env["PYTHONUNBUFFERED"] = "1"

    def run(*args: str | Path) -> Process:
        log = tmp_path / f"process-{len(started) + 1}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=tmp_path, env=env)
        process = Process(popen, log)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(STOP_S)


def write_config(tmp_path: Path, tg: FakeBotAPI, **sections: Any) -> Path:
    """A config.yaml in `tmp_path`: Telegram against `tg`, SQLite and an empty index there."""
    config: dict[str, Any] = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": {"telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url}},
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def table(db: Path, name: str) -> list[tuple[Any, ...]]:
    """(external or dialog key, status) rows of the inbox or outbox; empty before migration."""
    if not db.exists():
        return []
    key = "external_id" if name == "inbox" else "dialog_key"
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            return conn.execute(f"SELECT {key}, status FROM {name} ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # the tables are not created yet
            return []


async def until(predicate: Any, timeout: float, what: str, process: Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if process.popen.poll() is not None:
            raise AssertionError(f"the bot exited ({process.popen.returncode}) before {what}:\n"
                                 f"{process.output()[-3000:]}")
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s:\n{process.output()[-3000:]}")
        await asyncio.sleep(0.1)


async def test_a_bot_killed_mid_turn_answers_once_after_a_restart(
        tg: FakeBotAPI, tmp_path: Path, spawn: Any) -> None:
    answer = "Для открытия вклада нужен только паспорт, оформить его можно онлайн или в отделении."
    async with FakeOpenAI() as llm:
        llm.script(delay(300, text("этот ответ не придёт никогда")))  # the first process hangs here
        llm.responder = lambda body: text(answer)  # every later request is answered at once
        config = write_config(tmp_path, tg, llm={
            "provider": "openai", "base_url": llm.base_url, "model": "local-model",
            "api_key": "sk-test", "timeout_s": 600, "turn_deadline_s": 600})
        db = tmp_path / "bot.db"

        go = tmp_path / "restart"
        first = spawn(sys.executable, BOT_PROCESS, config)
        # The restart, imported while the first one works; it starts when `go` appears.
        second = spawn(sys.executable, BOT_PROCESS, config, "--after", go)
        update = tg.push_text(CUSTOMER, "Какие документы нужны для открытия вклада?")
        external_id = str(update["update_id"])
        await until(lambda: table(db, "inbox") == [(external_id, "pending")], START_S,
                    "the update being stored", first)
        await until(lambda: len(llm.requests) == 1, START_S, "the agent turn starting", first)
        assert tg.sent == []

        first.popen.send_signal(signal.SIGKILL)
        assert await first.wait(STOP_S) == -signal.SIGKILL
        assert table(db, "inbox") == [(external_id, "pending")]

        await until(lambda: "standing by" in second.output(), START_S, "the restart being ready",
                    second)
        go.touch()
        [reply] = await tg.wait_sent(1, timeout=START_S, chat_id=CUSTOMER)
        await until(lambda: table(db, "outbox") == [(str(CUSTOMER), "sent")], STOP_S,
                    "the reply being marked sent", second)
        await asyncio.sleep(1.0)  # a second answer (redelivery, recovery twice) would show by now

        assert plain(reply) == answer
        assert len(tg.sent_to(CUSTOMER)) == 1
        assert table(db, "inbox") == [(external_id, "done")]
        assert table(db, "outbox") == [(str(CUSTOMER), "sent")]
        assert tg.confirmed_offset > update["update_id"]
        assert len(llm.requests) == 2

        second.popen.send_signal(signal.SIGTERM)
        assert await second.wait(STOP_S) == 0, second.output()[-3000:]
        assert "stopped" in second.output()


async def test_sovetnik_serve_runs_the_telegram_channel(
        tg: FakeBotAPI, tmp_path: Path, spawn: Any) -> None:
    port = free_port()
    config = write_config(tmp_path, tg, server={"host": "127.0.0.1", "port": port})
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["channels"]["telegram"]["managers_chat_id"] = MANAGERS_CHAT
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")

    serve = spawn(SOVETNIK, "--config", config, "serve")
    health: dict[str, Any] = {}

    async with httpx.AsyncClient(timeout=5) as client:
        async def healthy() -> bool:
            with contextlib.suppress(httpx.TransportError):
                response = await client.get(f"http://127.0.0.1:{port}/healthz")
                health.update(response.json())
                return response.status_code == 200
            return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_S
        while not await healthy():
            assert serve.popen.poll() is None, serve.output()[-3000:]
            assert loop.time() < deadline, f"/healthz did not answer:\n{serve.output()[-3000:]}"
            await asyncio.sleep(0.2)

    assert health["status"] == "ok"
    assert {"telegram", "telegram_managers"} <= set(health["channels"])

    tg.push_command(CUSTOMER, "/start")
    [greeting] = await tg.wait_sent(1, timeout=START_S, chat_id=CUSTOMER)
    assert "Здравствуйте" in plain(greeting)

    serve.popen.send_signal(signal.SIGINT)
    exit_status = await serve.wait(STOP_S)
    output = serve.output()
    assert exit_status == 0, output[-3000:]
    assert "Application shutdown complete" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]

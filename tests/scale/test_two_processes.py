"""Two real `sovetnik serve` processes on one PostgreSQL (and one Redis).

A web chat customer connected to process A gets the manager's reply sent
through process B's console; the console's queue on B shows the handoff made
on A. Two profiles: everything shared through Redis, and PostgreSQL alone
(advisory locks, LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import yaml

from tests.redis_server import RedisSpace
from tests.store.conftest import require_postgres, temporary_postgres_database
from tests.telegram.conftest import REPO_ROOT, free_port
from tests.telegram.test_processes import SOVETNIK, START_S, STOP_S, spawn  # noqa: F401

pytestmark = pytest.mark.postgres

PROFILES = {
    "redis": {"lock": "redis", "events": "redis", "rate_limits": "redis"},
    "postgres": {"lock": "postgres", "events": "postgres", "rate_limits": "local"},
}

MANAGER = ("anna", "долгий-пароль-123")
WAIT_S = 30.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _config(tmp_path: Path, name: str, port: int, store_url: str, profile: str,
            redis: RedisSpace | None) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port, "secret_key": "one-key-for-every-process"},
        "store": {"url": store_url},
        "redis": {"url": redis.url, "prefix": redis.prefix} if redis is not None else {},
        "scale": PROFILES[profile],
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": {"webchat": {"enabled": True}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def _healthy(url: str, process: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_S
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            assert process.popen.poll() is None, process.output()[-3000:]
            assert loop.time() < deadline, f"{url}/healthz did not answer:\n{process.output()[-3000:]}"
            await asyncio.sleep(0.2)


async def _frame(frames: list[dict[str, Any]], ws: aiohttp.ClientWebSocketResponse, predicate: Any,
                 what: str) -> dict[str, Any]:
    """The first frame so far or to come that matches `predicate`."""
    async with asyncio.timeout(WAIT_S):
        while True:
            found = next((f for f in frames if predicate(f)), None)
            if found is not None:
                return found
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, f"socket ended waiting for {what}: {message}"
            frames.append(message.json())


async def _signed_in(url: str) -> httpx.AsyncClient:
    console = httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False)
    token = _CSRF.search((await console.get("/console/login")).text)
    assert token
    answer = await console.post("/console/login", data={"csrf": token[1], "name": MANAGER[0],
                                                        "password": MANAGER[1]})
    assert answer.status_code == 303, answer.text
    return console


async def _queued(console: httpx.AsyncClient) -> dict[str, Any]:
    """The first dialog on the console's live queue (polled as the page does)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            dialogs = (await console.get("/console/api/queue")).json()["dialogs"]
            if dialogs:
                return dict(dialogs[0])
            await asyncio.sleep(0.5)


@pytest.mark.parametrize("profile", [pytest.param("redis", marks=pytest.mark.redis), "postgres"])
async def test_a_customer_on_a_gets_the_reply_a_manager_sends_on_b(
        tmp_path: Path, spawn: Any, request: pytest.FixtureRequest,  # noqa: F811 - spawn
        profile: str) -> None:
    redis: RedisSpace | None = request.getfixturevalue("redis_space") if profile == "redis" else None
    server = require_postgres()
    with temporary_postgres_database(server, prefix="sovetnik_two") as url:
        store_url = url.render_as_string(hide_password=False)
        port_a, port_b = free_port(), free_port()
        config_a = _config(tmp_path, "a", port_a, store_url, profile, redis)
        config_b = _config(tmp_path, "b", port_b, store_url, profile, redis)
        subprocess.run([str(SOVETNIK), "--config", str(config_a), "users", "add", MANAGER[0],
                        "--role", "manager", "--password-stdin"], input=MANAGER[1] + "\n", text=True,
                       check=True, capture_output=True, timeout=START_S, cwd=tmp_path)
        a = spawn(SOVETNIK, "--config", config_a, "serve")
        b = spawn(SOVETNIK, "--config", config_b, "serve")
        url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        await asyncio.gather(_healthy(url_a, a), _healthy(url_b, b))

        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as customer:
            async with customer.get(f"{url_a}/") as page:
                page.raise_for_status()
            async with customer.ws_connect(f"{url_a}/ws/chat", headers={"Origin": url_a}) as ws:
                frames: list[dict[str, Any]] = []
                await _frame(frames, ws, lambda f: f["type"] == "history", "the history")
                await ws.send_json({"type": "message", "id": "m1", "text": "Позвать менеджера"})
                await _frame(frames, ws, lambda f: f["type"] == "ack", "the ack")
                await _frame(frames, ws, lambda f: f["type"] == "message" and f["handoff"],
                             "the bot's handoff reply")

                console = await _signed_in(url_b)
                try:
                    queued = await _queued(console)  # the handoff made on A, on B's queue
                    assert queued["status"] == "waiting"
                    page_b = await console.get(f"/console/dialogs/{queued['id']}")
                    token = _CSRF.search(page_b.text)
                    assert token
                    sent = await console.post(f"/console/dialogs/{queued['id']}/reply",
                                              data={"csrf": token[1], "text": "Здравствуйте, это Анна."})
                    assert sent.status_code == 303, sent.text
                finally:
                    await console.aclose()
                reply = await _frame(frames, ws, lambda f: f["type"] == "message"
                                     and f["author"] == "manager", "the manager's reply on A")
                assert reply["text"] == "Здравствуйте, это Анна."

        for process in (a, b):
            process.popen.send_signal(signal.SIGINT)
        for process in (a, b):
            assert await process.wait(STOP_S) == 0, process.output()[-3000:]

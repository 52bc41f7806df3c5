"""Fixtures of the security tests: the product as `sovetnik serve`, probed from outside.

`serve` starts the real command in a temporary folder (SQLite there, an empty
knowledge index, the shipped roles) with console accounts created beforehand,
and waits for `/healthz`. The process is killed by its own pid after the test.
Telegram, when a test wants it, runs against the loopback fake Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bots.web.auth import create_user
from store import Database
from tests.telegram.conftest import REPO_ROOT, free_port

SOVETNIK = Path(sys.executable).with_name("sovetnik")
START_S = 90.0  # a cold start imports aiogram, LangChain and the store: slow on a busy machine
MANAGER = ("olga", "olga-password-1")
ADMIN = ("anna", "anna-password-1")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Served:
    """A running `sovetnik serve`: its address, database file and output."""

    url: str
    port: int
    db: Path
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only query against the product's SQLite file."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as conn:
            return conn.execute(query, params).fetchall()


Serve = Callable[..., Awaitable[Served]]


async def _create_accounts(url: str, accounts: list[tuple[str, str, str]]) -> None:
    db = Database.from_url(url)
    try:
        await db.migrate()
        for name, role, password in accounts:
            await create_user(db, name, role, password)
    finally:
        await db.dispose()


async def _wait_healthy(served: Served) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_S
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            assert served.popen.poll() is None, served.output()[-3000:]
            assert loop.time() < deadline, f"/healthz did not answer:\n{served.output()[-3000:]}"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{served.url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Starts `sovetnik serve` with extra config sections; stops it (SIGINT, then kill) after."""
    started: list[Served] = []

    async def start(*, telegram: dict[str, Any] | None = None, server: dict[str, Any] | None = None,
                    accounts: list[tuple[str, str, str]] | None = None) -> Served:
        port = free_port()
        db = tmp_path / "sovetnik.db"
        config: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": port, **(server or {})},
            "store": {"url": f"sqlite+aiosqlite:///{db}"},
            "knowledge": {"index_dir": str(tmp_path / "index")},
            "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
            "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
            "channels": {"webchat": {"enabled": True},
                         "telegram": {"enabled": telegram is not None, **(telegram or {})}},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        default = [(MANAGER[0], "manager", MANAGER[1]), (ADMIN[0], "admin", ADMIN[1])]
        await _create_accounts(config["store"]["url"], default if accounts is None else accounts)
        log = tmp_path / f"serve-{len(started) + 1}.log"
        env = {k: v for k, v in os.environ.items() if k != "SOVETNIK_CONFIG"} | {"PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            popen = subprocess.Popen([str(SOVETNIK), "--config", str(path), "serve"], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=tmp_path, env=env)
        served = Served(f"http://127.0.0.1:{port}", port, db, popen, log)
        started.append(served)
        await _wait_healthy(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            if served.popen.poll() is None:
                served.popen.send_signal(signal.SIGINT)
                try:
                    served.popen.wait(20)
                except subprocess.TimeoutExpired:
                    served.popen.kill()
                    served.popen.wait(20)


def csrf_of(html: str) -> str:
    """The CSRF token a console page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match[1]


async def login_form(client: httpx.AsyncClient) -> str:
    """Open the sign-in page (starting a session); its CSRF token."""
    page = await client.get("/console/login")
    assert page.status_code == 200
    return csrf_of(page.text)


async def sign_in(client: httpx.AsyncClient, name: str, password: str,
                  csrf: str | None = None) -> httpx.Response:
    """Submit the sign-in form (opening it first unless a token is given)."""
    token = csrf or await login_form(client)
    return await client.post("/console/login", data={"name": name, "password": password, "csrf": token})

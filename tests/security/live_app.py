"""The real app under uvicorn for the security tests, reached over loopback.

`serve(settings)` runs the app exactly as `sovetnik serve` builds it
(`Runtime.build` + `create_app`) in a background thread with its own event
loop, on 127.0.0.1 and a free port; tests talk to it over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.config import Settings
from bots.runtime import Runtime
from bots.web.app import create_app
from bots.web.auth import create_user
from pipelines.ingest.run import ingest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
ADMIN = ("anna", "anna-password-1")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class LiveApp:
    """The running app and the temporary folders it serves from."""

    url: str
    runtime: Runtime
    root: Path
    loop: asyncio.AbstractEventLoop

    @property
    def docs_dir(self) -> Path:
        return self.runtime.settings.path(self.runtime.settings.knowledge.docs_dir)

    def call(self, factory: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the app's own event loop and return its result."""

        async def runner() -> Any:
            return await factory()

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)


def settings_for(root: Path, **sections: Any) -> Settings:
    """Settings of one product process with everything under `root` (docs and roles copied there)."""
    docs_dir, roles_dir = root / "docs", root / "roles"
    if not docs_dir.exists():
        shutil.copytree(REPO_ROOT / "knowledge" / "docs", docs_dir)
        shutil.copytree(REPO_ROOT / "agents" / "roles", roles_dir)
    data: dict[str, Any] = {
        "store": {"url": f"sqlite+aiosqlite:///{root / 'sovetnik.db'}"},
        "knowledge": {"docs_dir": str(docs_dir), "index_dir": str(root / "index")},
        "agents": {"roles_dir": str(roles_dir), "default_role": "front_desk"},
        "voice": {"model": str(root / "no-speech-model"), "audio_dir": str(root / "voice")},
        "llm": {"provider": "offline"},
        "channels": {"telegram": {"enabled": False}, "webchat": {"enabled": True}},
        "base_dir": root,
    }
    data.update(sections)
    return Settings.model_validate(data)


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[LiveApp]:
    """The app for `settings` on 127.0.0.1 (index built from its docs), with an admin account."""
    import uvicorn

    runtime = Runtime.build(settings)
    ingest([settings.path(settings.knowledge.docs_dir).resolve()], runtime.index,
           embedder_config=settings.embeddings.model)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="on",
                                           ws_ping_interval=None))
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="sovetnik-security-app", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if failure or not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start: {failure or 'timeout'}")
            time.sleep(0.05)
        app = LiveApp(f"http://127.0.0.1:{sock.getsockname()[1]}", runtime, settings.base_dir, loop)
        app.call(lambda: create_user(runtime.db, ADMIN[0], "admin", ADMIN[1]))
        yield app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the app did not stop"
    assert not failure, failure


def csrf_of(html: str) -> str:
    """The CSRF token of a console page."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def admin_client(app: LiveApp) -> httpx.Client:
    """An HTTP client signed in to the console as the admin."""
    client = httpx.Client(base_url=app.url, timeout=30, follow_redirects=False)
    token = csrf_of(client.get("/console/login").text)
    answer = client.post("/console/login", data={"csrf": token, "name": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 303, answer.text
    return client


def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One running app (web chat on, Telegram off): the body of each module's `live` fixture."""
    with serve(settings_for(tmp_path_factory.mktemp("security-app"))) as app:
        yield app

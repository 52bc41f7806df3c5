"""Fixtures of the browser tests: the real app under uvicorn, driven by Debian's chromium.

The app runs exactly as `sovetnik serve` builds it (`Runtime.build` + `create_app`)
on 127.0.0.1 and a free port, in a background thread with its own event loop.
Everything it writes lives in a temporary folder: the SQLite file, a copy of
`knowledge/docs` with an index built from it, a copy of `agents/roles`, the
session key. Admin edits made by the tests never touch the repository.

Chromium is Debian's `/usr/bin/chromium`, started by Python's playwright (sync
API). Where it is missing the tests are skipped with the reason, or fail when
`CI=true`: CI must never go green without having run them.

Screenshots the README links are written to `docs/screenshots/`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bots.config import Settings
from bots.runtime import Runtime
from bots.web.app import create_app
from bots.web.auth import create_user
from pipelines.ingest.run import ingest
from store.models import Dialog
from store.repositories import DialogRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("SOVETNIK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000
START_TIMEOUT_S = 60.0

MANAGER = ("olga", "olga-password-1")
ADMIN = ("anna", "anna-password-1")


def require_chromium() -> None:
    """Skip (locally) or fail (under CI=true) when the browser cannot be driven."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found: apt-get install -y chromium"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed: pip install -e '.[dev]'"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {problem}")
    pytest.skip(problem)


@dataclass
class LiveApp:
    """The running app and the temporary folders it serves from."""

    url: str
    runtime: Runtime
    docs_dir: Path
    roles_dir: Path
    loop: asyncio.AbstractEventLoop

    def call(self, factory: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the app's own event loop and return its result."""

        async def runner() -> Any:
            return await factory()

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def webchat_dialog(self, dialog_key: str) -> Dialog:
        """The stored dialog of a web-chat customer (named by their chat cookie)."""

        async def find() -> Dialog | None:
            async with self.runtime.db.session() as session:
                return await DialogRepository(session).by_key("webchat", dialog_key)

        dialog = self.call(find)
        assert dialog is not None, f"no web-chat dialog for {dialog_key}"
        return dialog


@pytest.fixture(scope="package")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The product's web app on 127.0.0.1, with a manager and an admin account."""
    require_chromium()
    import uvicorn

    root = tmp_path_factory.mktemp("live-app")
    docs_dir, roles_dir = root / "docs", root / "roles"
    shutil.copytree(REPO_ROOT / "knowledge" / "docs", docs_dir)
    shutil.copytree(REPO_ROOT / "agents" / "roles", roles_dir)
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{root / 'sovetnik.db'}"},
        "knowledge": {"docs_dir": str(docs_dir), "index_dir": str(root / "index")},
        "agents": {"roles_dir": str(roles_dir), "default_role": "front_desk"},
        "llm": {"provider": "offline"},
        "channels": {"telegram": {"enabled": False}, "webchat": {"enabled": True}},
        "base_dir": root,
    })
    runtime = Runtime.build(settings)
    # Built the way the admin console re-ingests, so its edits are incremental against it.
    report = ingest([settings.path(settings.knowledge.docs_dir).resolve()], runtime.index,
                    embedder_config=settings.embeddings.model)
    assert report.added and not report.skipped, report

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=serve, name="sovetnik-live-app", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if failure or not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start: {failure or 'timeout'}")
            time.sleep(0.05)
        app = LiveApp(f"http://127.0.0.1:{port}", runtime, docs_dir, roles_dir, loop)
        app.call(lambda: create_user(runtime.db, MANAGER[0], "manager", MANAGER[1]))
        app.call(lambda: create_user(runtime.db, ADMIN[0], "admin", ADMIN[1]))
        yield app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the app did not stop"
    assert not failure, failure


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, for the whole package."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser: Any, live_app: LiveApp) -> Iterator[Callable[..., Any]]:
    """Opens a page in a fresh browser context (its own cookies: another person)."""
    contexts: list[Any] = []

    def make(width: int = 1200, height: int = 800) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="ru-RU",
                                      base_url=live_app.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="package")
def screenshots() -> Path:
    """Where the README's screenshots go."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

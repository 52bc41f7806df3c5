"""Fixtures of the Telegram end-to-end tests.

The product runs for real (aiogram, engine, SQLite store, outbox, knowledge
index) against the loopback fake Bot API (`tests.fakes.telegram_server`).
The embedding model is loaded once and the demo knowledge base
(`knowledge/docs`) is indexed once per session; small ad-hoc indexes for a
single test are built from a few files in a temporary folder.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import bots.assembly
from bots.config import EmbeddingSettings, Settings
from bots.runtime import Runtime
from knowledge.embedder import Embedder, load_embedder
from knowledge.index import KnowledgeIndex
from pipelines.ingest.run import ingest
from store.leads import Contact, Deal
from store.models import Dialog, InboxItem, OutboxItem
from tests.demo_index import one_torch_thread
from tests.fakes._telegram_format import render
from tests.fakes.telegram_server import FakeBotAPI

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = REPO_ROOT / "knowledge" / "docs"
EMBEDDER_CONFIG = EmbeddingSettings().model
MANAGERS_CHAT = -1001234500
WAIT_S = 20.0  # upper bound of any wait for the product to react


# -- the knowledge base ---------------------------------------------------------------


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The configured embedding model, loaded once (offline: the packaged MiniLM)."""
    return load_embedder(EMBEDDER_CONFIG)


def build_index(folder: Path, docs: Path, embedder: Embedder) -> Path:
    """Index `docs` into `folder` exactly as `sovetnik kb ingest --index` does."""
    with one_torch_thread():
        ingest([docs], KnowledgeIndex(folder, lambda: embedder), embedder_config=EMBEDDER_CONFIG)
    return folder


@pytest.fixture(scope="session")
def demo_index(demo_copy: Callable[[str], Path]) -> Path:
    """The shipped demo knowledge base: this folder's copy of the run's one build."""
    return demo_copy("tg-demo-index")


@pytest.fixture
def small_index(tmp_path: Path, embedder: Embedder) -> Callable[[dict[str, str]], Path]:
    """Builds an index of a few knowledge files given as {relative path: text}."""

    def build(files: dict[str, str]) -> Path:
        docs = tmp_path / "docs"
        for name, text in files.items():
            path = docs / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return build_index(tmp_path / "index", docs, embedder)

    return build


# -- the fake Bot API and the product around it ------------------------------------------


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    """A running fake Telegram Bot API server (validates HTML like Telegram)."""
    async with FakeBotAPI() as server:
        yield server


def make_settings(tg: FakeBotAPI, tmp_path: Path, index_dir: Path, *,
                  telegram: dict[str, Any] | None = None, llm: dict[str, Any] | None = None,
                  server: dict[str, Any] | None = None) -> Settings:
    """Settings of one product process: Telegram against `tg`, SQLite in `tmp_path`."""
    data: dict[str, Any] = {
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(index_dir)},
        # No speech model: a voice note gets the «write instead» answer; nothing under the repo.
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": {"telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url,
                                  "managers_chat_id": MANAGERS_CHAT, **(telegram or {})}},
        "base_dir": tmp_path,  # whatever the product keeps under var/ goes there too
    }
    if llm:
        data["llm"] = llm
    if server:
        data["server"] = server
    return Settings.model_validate(data)


StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_runtime(tg: FakeBotAPI, tmp_path: Path, demo_index: Path, embedder: Embedder,
                        monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartRuntime]:
    """Starts the product against `tg` (demo index unless told otherwise); stops it after the test.

    Should the calibrated index ever use dense retrieval, the session's model is
    served instead of loading it again.
    """
    monkeypatch.setattr(bots.assembly, "load_embedder", lambda *a, **k: embedder)
    started: list[Runtime] = []

    async def start(index_dir: Path | None = None, **overrides: Any) -> Runtime:
        settings = make_settings(tg, tmp_path, index_dir or demo_index, **overrides)
        runtime = Runtime.build(settings)
        await runtime.start()
        started.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(started):
            await runtime.stop()
            await close_llm_client(runtime)


async def close_llm_client(runtime: Runtime) -> None:
    """Close the chat model's HTTP client, which `Runtime.stop` leaves open.

    Left alone, its keep-alive socket is only reclaimed by the garbage collector
    (a ResourceWarning, an error in this suite).
    """
    model = getattr(runtime.agent.answerer, "model", None)
    client = getattr(model, "root_async_client", None)
    if client is None:
        return
    await client.close()
    # langchain-openai shares one default HTTP client per (base_url, timeout) between
    # models: forget the closed one, so a model on a reused port gets a fresh client.
    from langchain_openai.chat_models import _client_utils

    cached = getattr(_client_utils, "_cached_async_httpx_client", None)
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()


@pytest.fixture
async def runtime(start_runtime: StartRuntime) -> Runtime:
    """The product in polling mode, offline answerer, demo knowledge base."""
    return await start_runtime()


# -- looking at what happened ---------------------------------------------------------


def plain(message: dict[str, Any]) -> str:
    """A recorded sendMessage as the customer reads it (HTML parsed, entities decoded)."""
    return render(message["text"], message.get("parse_mode"))


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = WAIT_S,
                     what: str = "condition") -> None:
    """Poll an async predicate until it holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


async def dialog_of(runtime: Runtime, chat_id: int) -> Dialog | None:
    """The Telegram dialog with `chat_id`, fresh from the store."""
    async with runtime.db.session() as session:
        return (await session.execute(sa.select(Dialog).where(
            Dialog.channel == "telegram", Dialog.dialog_key == str(chat_id)))).scalar_one_or_none()


async def inbox_of(runtime: Runtime) -> list[InboxItem]:
    """Every inbox item, oldest first."""
    async with runtime.db.session() as session:
        return list((await session.execute(sa.select(InboxItem).order_by(InboxItem.id))).scalars())


async def outbox_of(runtime: Runtime, channel: str = "telegram") -> list[OutboxItem]:
    """Every outbox item of `channel`, oldest first."""
    async with runtime.db.session() as session:
        return list((await session.execute(sa.select(OutboxItem).where(
            OutboxItem.channel == channel).order_by(OutboxItem.id))).scalars())


async def deals_of(runtime: Runtime) -> list[Deal]:
    """Every deal, oldest first."""
    async with runtime.db.session() as session:
        return list((await session.execute(sa.select(Deal).order_by(Deal.id))).scalars())


async def phones_of(runtime: Runtime) -> list[str | None]:
    """The phone of every contact, oldest first."""
    async with runtime.db.session() as session:
        return list((await session.execute(sa.select(Contact.phone).order_by(Contact.id))).scalars())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

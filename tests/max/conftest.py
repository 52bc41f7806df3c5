"""Fixtures of the MAX end-to-end tests: the real product against the loopback fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import bots.assembly
from bots.config import Settings
from bots.runtime import Runtime
from knowledge.embedder import Embedder
from tests.fakes.max_server import FakeMax
from tests.telegram.conftest import REPO_ROOT, demo_index, embedder  # noqa: F401 - shared fixtures

WEBHOOK_SECRET = "max-webhook-secret-9"
PUBLIC_URL = "https://bank.example/max/webhook"


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    """A running fake MAX Bot API."""
    async with FakeMax() as server:
        yield server


def max_settings(mx: FakeMax, tmp_path: Path, index_dir: Path, **overrides: Any) -> Settings:
    """One product process: MAX against `mx`, Telegram off, SQLite in `tmp_path`."""
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(index_dir)},
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": {"max": {"enabled": True, "token": mx.token, "api_url": mx.base_url, **overrides}},
        "base_dir": tmp_path,
    })


StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_max(mx: FakeMax, tmp_path: Path, demo_index: Path, embedder: Embedder,  # noqa: F811
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartRuntime]:
    """Starts the product against `mx`; stops it after the test."""
    monkeypatch.setattr(bots.assembly, "load_embedder", lambda *a, **k: embedder)
    started: list[Runtime] = []

    async def start(**overrides: Any) -> Runtime:
        runtime = Runtime.build(max_settings(mx, tmp_path, demo_index, **overrides))
        await runtime.start()
        started.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(started):
            await runtime.stop()

"""Fixtures of the VK end-to-end tests: the real product against the loopback fake VK API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import bots.assembly
from bots.config import Settings
from bots.runtime import Runtime
from knowledge.embedder import Embedder
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import REPO_ROOT, demo_index, embedder  # noqa: F401 - shared fixtures

CALLBACK_SECRET = "vk-callback-secret-7"
CONFIRMATION = "a1b2c3d4"


@pytest.fixture
async def vk() -> AsyncIterator[FakeVK]:
    """A running fake VK API (methods, Bots Long Poll, media)."""
    async with FakeVK() as server:
        yield server


def vk_settings(vk: FakeVK, tmp_path: Path, index_dir: Path, **overrides: Any) -> Settings:
    """One product process: VK against `vk`, Telegram off, SQLite in `tmp_path`."""
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(index_dir)},
        "voice": {"model": str(tmp_path / "no-speech-model"), "audio_dir": str(tmp_path / "voice")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "channels": {"vk": {"enabled": True, "token": vk.token, "group_id": vk.group_id,
                            "api_url": vk.base_url, "confirmation": CONFIRMATION,
                            "secret": CALLBACK_SECRET, **overrides}},
        "base_dir": tmp_path,
    })


StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_vk(vk: FakeVK, tmp_path: Path, demo_index: Path, embedder: Embedder,  # noqa: F811
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartRuntime]:
    """Starts the product against `vk` (VK settings overridable); stops it after the test."""
    monkeypatch.setattr(bots.assembly, "load_embedder", lambda *a, **k: embedder)
    started: list[Runtime] = []

    async def start(**overrides: Any) -> Runtime:
        runtime = Runtime.build(vk_settings(vk, tmp_path, demo_index, **overrides))
        await runtime.start()
        started.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(started):
            await runtime.stop()

"""A customer sends a VK voice message (`audio_message`); the real pipeline transcribes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.config import Settings
from bots.engine import NO_VOICE_TEXT
from bots.runtime import Runtime
from tests.fakes.vk_server import FakeVK
from tests.voice.conftest import FAST_DECODING, REPO_ROOT, WAIT_S, Speech, customer_messages

CUSTOMER = 7003


@pytest.fixture
async def vk() -> AsyncIterator[FakeVK]:
    async with FakeVK() as server:
        yield server


@pytest.fixture
async def runtime(vk: FakeVK, tmp_path: Path, tiny_model: Path) -> AsyncIterator[Runtime]:
    """The product with VK over Bots Long Poll and the tiny speech model."""
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "channels": {"vk": {"enabled": True, "token": vk.token, "group_id": vk.group_id,
                            "api_url": vk.base_url}},
        "voice": {"audio_dir": str(tmp_path / "voice"), "model": str(tiny_model), **FAST_DECODING},
        "base_dir": REPO_ROOT,
    })
    runtime = Runtime.build(settings)
    await runtime.start()
    await vk.wait_calls("groups.getLongPollServer")
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_a_vk_voice_message_is_transcribed_and_answered(
        vk: FakeVK, runtime: Runtime, speech: Speech) -> None:
    vk.push(vk.voice_event(CUSTOMER, speech.ogg, duration=round(speech.duration_s)))

    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await runtime.engine.idle()

    assert vk.downloads == ["voice1.ogg"]
    [stored] = await customer_messages(runtime)
    [attachment] = stored.meta["attachments"]
    assert stored.meta["voice_transcript"] is True
    assert attachment["transcript"]["text"] and stored.text == attachment["transcript"]["text"]
    assert reply["text"].strip() and NO_VOICE_TEXT not in reply["text"]


async def test_a_voice_link_outside_vk_is_not_downloaded(
        vk: FakeVK, runtime: Runtime, speech: Speech) -> None:
    event = vk.voice_event(CUSTOMER, speech.ogg)
    audio = event["object"]["message"]["attachments"][0]["audio_message"]
    audio["link_ogg"] = "http://169.254.169.254/latest/meta-data"  # not a VK host
    vk.push(event)

    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await runtime.engine.idle()

    assert vk.downloads == []
    assert "текстом" in reply["text"], reply["text"]
    [stored] = await customer_messages(runtime)
    assert stored.meta["voice_transcript"] is False

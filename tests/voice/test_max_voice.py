"""A customer sends a MAX voice note (an `audio` attachment); the real pipeline transcribes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.config import Settings
from bots.engine import NO_VOICE_TEXT
from bots.runtime import Runtime
from tests.fakes.max_server import FakeMax
from tests.voice.conftest import FAST_DECODING, REPO_ROOT, WAIT_S, Speech, customer_messages

CUSTOMER = 5503


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    async with FakeMax() as server:
        yield server


@pytest.fixture
async def runtime(mx: FakeMax, tmp_path: Path, tiny_model: Path) -> AsyncIterator[Runtime]:
    """The product with MAX over long polling and the tiny speech model."""
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "channels": {"max": {"enabled": True, "token": mx.token, "api_url": mx.base_url}},
        "voice": {"audio_dir": str(tmp_path / "voice"), "model": str(tiny_model), **FAST_DECODING},
        "base_dir": REPO_ROOT,
    })
    runtime = Runtime.build(settings)
    await runtime.start()
    await mx.wait_polls(1)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_a_max_voice_note_is_transcribed_and_answered(
        mx: FakeMax, runtime: Runtime, speech: Speech) -> None:
    mx.push(mx.voice_update(CUSTOMER, speech.ogg))

    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()

    assert mx.downloads == ["audio1.ogg"]
    [stored] = await customer_messages(runtime)
    [attachment] = stored.meta["attachments"]
    assert stored.meta["voice_transcript"] is True
    assert attachment["transcript"]["text"] and stored.text == attachment["transcript"]["text"]
    assert reply["text"].strip() and NO_VOICE_TEXT not in reply["text"]


async def test_a_voice_link_outside_max_is_not_downloaded(
        mx: FakeMax, runtime: Runtime, speech: Speech) -> None:
    update = mx.voice_update(CUSTOMER, speech.ogg)
    update["message"]["body"]["attachments"][0]["payload"]["url"] = "http://169.254.169.254/x"
    mx.push(update)

    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()

    assert mx.downloads == []
    assert "текстом" in reply["text"], reply["text"]
    [stored] = await customer_messages(runtime)
    assert stored.meta["voice_transcript"] is False

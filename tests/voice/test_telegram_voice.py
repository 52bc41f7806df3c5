"""A customer sends voice notes to the Telegram bot; the real pipeline transcribes them.

voice update → getFile → download → PyAV → faster-whisper (tiny random model)
→ the agent's turn → the reply. The random model's words are gibberish, so
the tests check that the pipeline ran and where its output went, not what
it says.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from bots.engine import NO_VOICE_TEXT
from store.models import InboxStatus
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import inbox_of, plain
from tests.voice.conftest import FAST_DECODING, WAIT_S, Speech, StartProduct, customer_messages

CUSTOMER = 42
OTHER = 43
MANAGERS_CHAT = -1001234500
MANAGER_BUTTON = ["Позвать менеджера"]


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("keyboard", []) for b in row]


async def test_a_voice_note_is_transcribed_and_answered(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech,
        tmp_path: Path) -> None:
    # Retention is on (30 days), but a recording of a customer's voice is personal data:
    # before the customer's consent nothing of it may stay on disk.
    product = await start_product(model=str(tiny_model), **FAST_DECODING)
    tg.add_file("voice-1", speech.ogg, file_path="voice/file_1.oga")
    tg.push_voice(CUSTOMER, "voice-1", duration=round(speech.duration_s))

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    assert [p["file_id"] for p in tg.params_of("getFile")] == ["voice-1"]
    assert tg.downloads == ["voice/file_1.oga"]
    [stored] = await customer_messages(product.runtime)
    [attachment] = stored.meta["attachments"]
    transcript = attachment["transcript"]
    assert stored.meta["voice_transcript"] is True
    assert transcript["text"] and stored.text == transcript["text"]
    assert transcript["language"] == "ru" and transcript["language_probability"] == 1.0
    assert transcript["duration_s"] == pytest.approx(speech.duration_s, abs=0.1)
    assert transcript["model"] == tiny_model.name and transcript["error"] is None
    # The customer got an answer to what was heard, not the «no voice» notice.
    assert plain(reply).strip() and NO_VOICE_TEXT not in plain(reply)
    assert product.asked in ([stored.text], [])  # [] when the model was unsure (see bots.misheard)
    # Nothing of the recording is kept before consent: no file, no path in the store.
    assert transcript["audio_file"] is None
    audio_dir = tmp_path / "voice"
    assert not audio_dir.exists() or list(audio_dir.iterdir()) == []


async def test_language_is_detected_when_configured(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:
    product = await start_product(model=str(tiny_model), language="auto", **FAST_DECODING)
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)

    await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    [stored] = await customer_messages(product.runtime)
    transcript = stored.meta["attachments"][0]["transcript"]
    assert transcript["language"]  # whatever the random model detects, it is recorded
    assert 0.0 < transcript["language_probability"] <= 1.0


@pytest.mark.parametrize(("case", "expected"), [
    ("corrupt", "повреждён"),
    ("zero_length", "пустое"),
    ("lying_about_its_length", "слишком длинное"),
])
async def test_bad_audio_gets_a_clear_reply_and_the_message_is_kept(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech,
        case: str, expected: str) -> None:
    # A 1-second limit: the 2.6-second note that claims 1 second is caught while decoding.
    product = await start_product(model=str(tiny_model), max_duration_s=1, **FAST_DECODING)
    data = {"corrupt": bytes(range(256)) * 40, "zero_length": b"",
            "lying_about_its_length": speech.ogg}[case]
    tg.add_file("voice-1", data)
    tg.push_voice(CUSTOMER, "voice-1", duration=1)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    assert expected in plain(reply), plain(reply)
    assert "текстом" in plain(reply) and buttons(reply) == MANAGER_BUTTON
    assert product.asked == []  # no agent turn on nothing
    [stored] = await customer_messages(product.runtime)
    assert stored.meta["voice_transcript"] is False and stored.meta["voice_error"]
    [item] = await inbox_of(product.runtime)
    assert item.status == InboxStatus.DONE


async def test_a_note_over_the_duration_limit_is_not_downloaded(
        tg: FakeBotAPI, product, speech: Speech) -> None:  # type: ignore[no-untyped-def]
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=301)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    assert "слишком длинное" in plain(reply) and "5 мин" in plain(reply), plain(reply)
    assert buttons(reply) == MANAGER_BUTTON
    assert tg.params_of("getFile") == [] and tg.downloads == []


async def test_an_unsupported_media_type_is_refused_without_downloading(
        tg: FakeBotAPI, product, speech: Speech) -> None:  # type: ignore[no-untyped-def]
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3, mime_type="audio/x-ms-wma")

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    assert "формат" in plain(reply) and "текстом" in plain(reply), plain(reply)
    assert tg.downloads == []
    [stored] = await customer_messages(product.runtime)
    assert stored.meta["voice_error"] == "unsupported"


@pytest.mark.parametrize("declared", [True, False])
async def test_a_file_over_20_mb_is_refused_before_downloading(
        tg: FakeBotAPI, product, declared: bool) -> None:  # type: ignore[no-untyped-def]
    # The update may carry the size or not; getFile refuses such files either way.
    tg.add_file("voice-1", b"OggS", file_size=21 * 1024 * 1024)
    update = tg.voice_update(CUSTOMER, "voice-1", duration=3)
    if not declared:
        del update["message"]["voice"]["file_size"]
    tg.push_update(update)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    assert "слишком большой" in plain(reply) and "20 МБ" in plain(reply), plain(reply)
    assert tg.downloads == []
    assert len(tg.params_of("getFile")) == (0 if declared else 1)


async def test_without_a_model_one_warning_and_a_polite_reply(
        tg: FakeBotAPI, start_product: StartProduct, tmp_path: Path, speech: Speech,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pipelines.voice")
    product = await start_product(model=str(tmp_path / "no-such-model"))
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)
    tg.push_voice(OTHER, "voice-1", duration=3)

    replies = [(await tg.wait_sent(1, timeout=WAIT_S, chat_id=chat))[0] for chat in (CUSTOMER, OTHER)]
    await product.runtime.engine.idle()

    for reply in replies:
        assert "Распознавание голоса недоступно — напишите, пожалуйста, текстом" in plain(reply)
        assert buttons(reply) == MANAGER_BUTTON
    assert tg.downloads == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no speech model" in warnings[0].getMessage(), warnings


def gate(product) -> tuple[threading.Event, threading.Event]:  # type: ignore[no-untyped-def]
    """Hold every transcription until `release` is set; `entered` tells one has started."""
    transcriber = product.runtime.voice.transcriber
    real = transcriber.transcribe
    entered, release = threading.Event(), threading.Event()

    def held(audio):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(WAIT_S)
        return real(audio)

    transcriber.transcribe = held
    return entered, release


async def test_a_long_transcription_does_not_delay_other_dialogs(
        tg: FakeBotAPI, product, speech: Speech) -> None:  # type: ignore[no-untyped-def]
    entered, release = gate(product)
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)
    assert await asyncio.to_thread(entered.wait, WAIT_S), "the transcription never started"

    tg.push_text(OTHER, "Спасибо!")
    [answer] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=OTHER)

    assert "Пожалуйста" in plain(answer)
    assert tg.sent_to(CUSTOMER) == []  # still transcribing
    release.set()
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)


async def test_when_the_queue_is_full_the_customer_is_asked_to_retry_later(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:
    product = await start_product(model=str(tiny_model), workers=1, queue_size=0, **FAST_DECODING)
    entered, release = gate(product)
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)
    assert await asyncio.to_thread(entered.wait, WAIT_S), "the transcription never started"

    tg.push_voice(OTHER, "voice-1", duration=3)
    [busy] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=OTHER)

    assert "много голосовых" in plain(busy) and "позже" in plain(busy) and "текстом" in plain(busy)
    assert buttons(busy) == MANAGER_BUTTON
    release.set()
    [answer] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "много голосовых" not in plain(answer)


async def test_a_file_telegram_no_longer_has_gets_a_reply(
        tg: FakeBotAPI, product) -> None:  # type: ignore[no-untyped-def]
    tg.push_voice(CUSTOMER, "expired-file", duration=3, file_size=9_000)  # getFile: invalid file_id

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    assert "Не получилось распознать голосовое сообщение" in plain(reply), plain(reply)
    assert buttons(reply) == MANAGER_BUTTON


async def test_managers_see_a_voice_note_as_a_transcript(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:
    product = await start_product(telegram={"managers_chat_id": MANAGERS_CHAT}, model=str(tiny_model),
                                  **FAST_DECODING)
    tg.push_text(CUSTOMER, "Позовите менеджера, пожалуйста")
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=MANAGERS_CHAT)  # the handoff card

    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)
    relayed = (await tg.wait_sent(2, timeout=WAIT_S, chat_id=MANAGERS_CHAT))[-1]
    await product.runtime.engine.idle()

    [_, stored] = await customer_messages(product.runtime)
    assert stored.meta["voice_transcript"] is True
    assert plain(relayed) == f"👤 Клиент: 🎤 {stored.text}"
    assert len(tg.sent_to(CUSTOMER)) == 1  # a manager's dialog: no bot turn on the voice note

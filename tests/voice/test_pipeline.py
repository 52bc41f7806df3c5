"""The voice pipeline on its own: formats, limits, the worker pool, the model's one load, retention."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bots.channels.base import Channel, MediaError
from bots.config import VoiceSettings
from bots.messages import Attachment, OutboundMessage
from pipelines.voice import (
    AudioArchive,
    FasterWhisperTranscriber,
    Transcript,
    VoiceBusy,
    VoiceCorrupt,
    VoiceEmpty,
    VoiceError,
    VoiceLimits,
    VoiceNote,
    VoicePipeline,
    VoiceTooBig,
    VoiceTooLong,
    VoiceUnsupported,
    WhisperOptions,
    WorkerPool,
)
from pipelines.voice.audio import SAMPLE_RATE, check_mime_type, decode
from pipelines.voice.errors import duration_ru, size_ru
from pipelines.voice.priority import Priority
from tests.voice.conftest import Speech

LIMITS = VoiceLimits(max_duration_s=300, max_bytes=20 * 1024 * 1024)


def whisper(model: Path, **options: object) -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(WhisperOptions(model=str(model), temperatures=(0.0,), **options))  # type: ignore[arg-type]


def pipeline(transcriber: object, tmp_path: Path, *, workers: int = 1, queue_size: int = 4,
             retention_days: int = 0, limits: VoiceLimits = LIMITS) -> VoicePipeline:
    return VoicePipeline(transcriber, limits, WorkerPool(workers, queue_size),  # type: ignore[arg-type]
                         AudioArchive(tmp_path / "voice", retention_days))


def fetching(data: bytes):  # type: ignore[no-untyped-def]
    async def fetch() -> bytes:
        return data

    return fetch


class Held:
    """A `Transcriber` that waits for the test's word, recording where it ran."""

    name = "held"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []

    def unavailable_reason(self) -> str | None:
        return None

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        self.release.wait(10)
        return Transcript("алло", "ru", 1.0, audio.size / SAMPLE_RATE)


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "m4a"])
async def test_telegram_vk_and_max_formats_are_transcribed(
        tiny_model: Path, speech: Speech, tmp_path: Path, fmt: str) -> None:
    voice = pipeline(whisper(tiny_model), tmp_path)
    try:
        result = await voice.transcribe(VoiceNote(key=f"test_{fmt}"), fetching(getattr(speech, fmt)))
    finally:
        await voice.close()

    assert result.transcript.text
    assert result.transcript.language == "ru"
    assert result.transcript.duration_s == pytest.approx(speech.duration_s, abs=0.15)
    assert result.audio_file is None  # retention 0: nothing kept


async def test_the_model_loads_once_for_concurrent_notes(
        tiny_model: Path, speech: Speech, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.voice import paced_whisper

    loads: list[str] = []
    real = paced_whisper.PacedWhisperModel

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            loads.append(threading.current_thread().name)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(paced_whisper, "PacedWhisperModel", Counting)
    voice = pipeline(whisper(tiny_model, workers=2), tmp_path, workers=2)
    try:
        results = await asyncio.gather(*(voice.transcribe(VoiceNote(key=f"n{i}"), fetching(speech.ogg))
                                         for i in range(3)))
    finally:
        await voice.close()

    assert all(r.transcript.text for r in results)
    assert len(loads) == 1 and loads[0].startswith("voice"), loads  # once, off the event loop


@pytest.mark.parametrize("priority", ["idle", "low"])
async def test_the_models_compute_threads_run_at_low_priority(
        tiny_model: Path, speech: Speech, tmp_path: Path, priority: Priority) -> None:
    voice = pipeline(whisper(tiny_model, priority=priority), tmp_path)
    before = set(_threads())
    try:
        await voice.transcribe(VoiceNote(key="k"), fetching(speech.ogg))
        worker = await voice.pool.run(_scheduling)
    finally:
        await voice.close()

    main = _scheduling()
    assert worker == main  # the Python side holds the GIL at times: never starve it
    if sys.platform != "linux":
        return
    compute = [policy for tid, policy in _threads().items() if tid not in before]
    if priority == "idle":
        assert os.SCHED_IDLE in [p for p, _ in compute] and main[0] != os.SCHED_IDLE, compute
    else:
        assert any(nice >= min(19, main[1] + 10) for _, nice in compute), compute


def _scheduling(tid: int | None = None) -> tuple[int, int]:
    """A thread's scheduling policy and nice value (the calling thread's by default)."""
    tid = tid or threading.get_native_id()
    return os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)


def _threads() -> dict[int, tuple[int, int]]:
    """Every thread of this process with its policy and nice value."""
    found = {}
    for name in os.listdir(f"/proc/{os.getpid()}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            found[int(name)] = _scheduling(int(name))
    return found


async def test_a_full_queue_refuses_at_once(tmp_path: Path, speech: Speech) -> None:
    held = Held()
    voice = pipeline(held, tmp_path, workers=1, queue_size=1)
    try:
        first = asyncio.create_task(voice.transcribe(VoiceNote(key="a"), fetching(speech.ogg)))
        assert await asyncio.to_thread(held.entered.wait, 10)
        second = asyncio.create_task(voice.transcribe(VoiceNote(key="b"), fetching(speech.ogg)))
        await asyncio.sleep(0.05)  # the second waits in the queue
        started = time.monotonic()
        with pytest.raises(VoiceBusy) as refused:
            await voice.transcribe(VoiceNote(key="c"), fetching(speech.ogg))
        assert time.monotonic() - started < 0.5
        assert "много голосовых" in refused.value.reply
        held.release.set()
        assert (await first).transcript.text == (await second).transcript.text == "алло"
        assert voice.pool.admitted == 0
    finally:
        held.release.set()
        await voice.close()


@pytest.mark.parametrize(("note", "data", "error"), [
    (VoiceNote(key="k", mime_type="video/mp4"), b"x", VoiceUnsupported),
    (VoiceNote(key="k", duration_s=301), b"x", VoiceTooLong),
    (VoiceNote(key="k", size_bytes=20 * 1024 * 1024 + 1), b"x", VoiceTooBig),
    (VoiceNote(key="k", size_bytes=0), b"", VoiceEmpty),
    (VoiceNote(key="k"), b"", VoiceEmpty),
    (VoiceNote(key="k"), b"\x00" * 5000, VoiceCorrupt),
])
async def test_bad_notes_end_as_voice_errors(tmp_path: Path, note: VoiceNote, data: bytes,
                                             error: type[VoiceError]) -> None:
    voice = pipeline(Held(), tmp_path)
    try:
        with pytest.raises(error) as raised:
            await voice.transcribe(note, fetching(data))
    finally:
        await voice.close()
    assert "текстом" in raised.value.reply


async def test_a_failed_download_is_a_voice_error(tmp_path: Path) -> None:
    async def broken() -> bytes:
        raise ConnectionResetError("peer went away")

    voice = pipeline(Held(), tmp_path)
    try:
        with pytest.raises(VoiceError) as raised:
            await voice.transcribe(VoiceNote(key="k"), broken)
    finally:
        await voice.close()
    assert raised.value.code == "failed"


def test_declared_media_types() -> None:
    for ok in ("audio/ogg", "audio/ogg; codecs=opus", "audio/mpeg", "audio/mp4", "audio/x-m4a", None):
        check_mime_type(ok)
    for bad in ("audio/x-ms-wma", "video/mp4", "application/pdf", "image/jpeg"):
        with pytest.raises(VoiceUnsupported):
            check_mime_type(bad)


def test_decoding_stops_at_the_duration_limit(speech: Speech) -> None:
    assert decode(speech.ogg, 60).size == pytest.approx(speech.duration_s * SAMPLE_RATE, abs=10)
    with pytest.raises(VoiceTooLong) as raised:
        decode(speech.ogg, 1)
    assert "до 1 с" in raised.value.reply


def test_limits_read_well_in_russian() -> None:
    assert duration_ru(300) == "5 мин" and duration_ru(90) == "1 мин 30 с" and duration_ru(45) == "45 с"
    assert size_ru(20 * 1024 * 1024) == "20 МБ" and size_ru(1536 * 1024) == "1,5 МБ"
    assert size_ru(300 * 1024) == "300 КБ"


def test_audio_is_kept_for_the_retention_period(tmp_path: Path) -> None:
    archive = AudioArchive(tmp_path, retention_days=7)
    fresh = archive.save("telegram_42_1001", b"OggS fresh", "audio/ogg")
    old = archive.save("telegram_42_1002", b"OggS old", "audio/mpeg")
    assert fresh is not None and old is not None and old.suffix == ".mp3"
    eight_days_ago = time.time() - 8 * 86_400
    os.utime(old, (eight_days_ago, eight_days_ago))
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not ours")
    os.utime(foreign, (eight_days_ago, eight_days_ago))

    assert archive.prune() == 1
    assert fresh.exists() and not old.exists() and foreign.exists()


def test_retention_zero_keeps_nothing(tmp_path: Path) -> None:
    kept = AudioArchive(tmp_path, retention_days=1).save("telegram_42_1", b"OggS", "audio/ogg")
    archive = AudioArchive(tmp_path, retention_days=0)

    assert archive.save("telegram_42_2", b"OggS", "audio/ogg") is None
    assert archive.prune() == 1 and kept is not None and not kept.exists()


def test_a_missing_model_is_reported_without_loading(tmp_path: Path) -> None:
    assert "no such model folder" in (whisper(tmp_path / "absent").unavailable_reason() or "")
    (tmp_path / "empty").mkdir()
    assert "model.bin" in (whisper(tmp_path / "empty").unavailable_reason() or "")
    reason = FasterWhisperTranscriber(WhisperOptions(model="large-v3")).unavailable_reason()
    assert reason is None or "cache" in reason  # present only where someone cached it


def test_language_auto_means_detection() -> None:
    assert VoiceSettings(language="auto").language is None
    assert VoiceSettings().language == "ru"


async def test_a_channel_without_media_support_refuses_clearly() -> None:
    class TextOnly(Channel):
        name = "text-only"

        async def send(self, message: OutboundMessage) -> None:
            return None

    with pytest.raises(MediaError, match="text-only"):
        await TextOnly().fetch_media(Attachment(kind="voice", media_ref="f"))

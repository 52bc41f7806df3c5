"""Transcriptions yield to text turns within a budget, and stop the fallback ladder at a deadline.

Real faster-whisper on the tiny random-weight model: its decodes look bad to
Whisper's own tests (low log-probability), so without a deadline every
window walks the whole temperature ladder.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from faster_whisper import WhisperModel

from pipelines.voice import FasterWhisperTranscriber, TextFirst, WhisperOptions
from pipelines.voice.audio import decode
from tests.voice.conftest import Speech

LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
WAIT_S = 30.0


def transcriber(model: Path, text_first: TextFirst | None = None,
                **options: object) -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(WhisperOptions(model=str(model), **options), text_first)  # type: ignore[arg-type]


async def test_a_transcription_waits_while_a_text_turn_runs(tiny_model: Path, speech: Speech) -> None:
    text_first = TextFirst()
    whisper = transcriber(tiny_model, text_first, temperatures=(0.0,), yield_budget_s=WAIT_S)
    audio = decode(speech.ogg, 60)
    whisper.model()  # loaded before the turn: loading is not a step that yields
    with text_first.turn():
        note = asyncio.create_task(asyncio.to_thread(whisper.transcribe, audio))
        await asyncio.sleep(0.5)
        assert not note.done()  # held back while the text turn runs
    transcript = await asyncio.wait_for(note, WAIT_S)
    assert transcript.text


async def test_endless_text_traffic_does_not_starve_a_note(tiny_model: Path, speech: Speech) -> None:
    text_first = TextFirst()
    whisper = transcriber(tiny_model, text_first, temperatures=(0.0,), yield_budget_s=0.3)
    audio = decode(speech.ogg, 60)
    with text_first.turn():  # a text turn that never ends while the note is transcribed
        transcript = await asyncio.wait_for(asyncio.to_thread(whisper.transcribe, audio), WAIT_S)
    assert transcript.text


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the temperature of every decode faster-whisper runs."""
    temperatures: list[float] = []
    real = WhisperModel.generate_with_fallback
    lock = threading.Lock()

    def counting(self, encoder_output, prompt, tokenizer, options):  # type: ignore[no-untyped-def]
        with lock:
            temperatures.extend(options.temperatures)
        return real(self, encoder_output, prompt, tokenizer, options)

    monkeypatch.setattr(WhisperModel, "generate_with_fallback", counting)
    return temperatures


@pytest.mark.parametrize(("deadline", "decodes"), [(None, len(LADDER)), (1e-6, 1)])
def test_the_fallback_ladder_stops_at_the_notes_deadline(
        tiny_model: Path, speech: Speech, monkeypatch: pytest.MonkeyPatch,
        deadline: float | None, decodes: int) -> None:
    whisper = transcriber(tiny_model, temperatures=LADDER, ladder_deadline_s=deadline, vad_filter=False)
    whisper.model()
    temperatures = _counting_decodes(monkeypatch)

    transcript = whisper.transcribe(decode(speech.ogg, 60))

    assert transcript.duration_s > 0
    assert temperatures[:decodes] == list(LADDER[:decodes])  # one rung at a time, in order
    assert len(temperatures) == decodes  # one window: the whole ladder, or only the greedy decode

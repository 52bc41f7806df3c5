"""Transcription in a child process: text turns stop it mid-step, and its crash costs no note.

Real faster-whisper in real child processes, on the tiny random-weight model;
the product runs against the loopback Bot API where a customer is involved.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pipelines.voice import TextFirst, VoiceError, WhisperOptions
from pipelines.voice.audio import decode
from pipelines.voice.child import ChildTranscriber
from tests.telegram.conftest import plain
from tests.voice.conftest import FAST_DECODING, WAIT_S, Speech, StartProduct, customer_messages
from tests.voice.test_telegram_voice import CUSTOMER

CHILD = "voice-transcriber"


def children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == CHILD]


def state(pid: int) -> str:
    """The process's state letter in /proc: R running, S sleeping, T stopped."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@contextmanager
def transcriber(model: Path, text_first: TextFirst | None = None,
                **options: float) -> Iterator[ChildTranscriber]:
    share = options.pop("yield_share", 0.25)
    whisper = WhisperOptions(model=str(model), temperatures=(0.0,), **options)  # type: ignore[arg-type]
    child = ChildTranscriber(whisper, text_first, yield_share=share)
    try:
        yield child
    finally:
        child.close()


def long_note(speech: Speech) -> np.ndarray:
    """About 25 s of speech: a note long enough to be caught in the middle."""
    audio = decode(speech.ogg, 60)
    return np.concatenate([audio] * max(1, int(25 * 16000 / audio.size)))


async def test_a_note_is_transcribed_in_a_child_process_as_in_the_product_process(
        tiny_model: Path, speech: Speech) -> None:
    from pipelines.voice import FasterWhisperTranscriber

    audio = decode(speech.ogg, 60)
    options = WhisperOptions(model=str(tiny_model), temperatures=(0.0,))
    here = FasterWhisperTranscriber(options).transcribe(audio)
    with transcriber(tiny_model) as child:
        there = await asyncio.to_thread(child.transcribe, audio)
        [process] = children()
        assert process.pid != os.getpid()
    assert there.text == here.text and there.duration_s == here.duration_s


async def test_a_text_turn_stops_the_process_mid_note_and_its_end_lets_it_go_on(
        tiny_model: Path, speech: Speech) -> None:
    text_first = TextFirst()
    with transcriber(tiny_model, text_first, yield_budget_s=WAIT_S, yield_share=0.9) as child:
        await asyncio.to_thread(child.transcribe, decode(speech.ogg, 60))  # the process is started
        [process] = children()
        assert process.pid is not None
        seen = set()
        with text_first.turn():  # begun before the note, and running on while it is transcribed
            note = asyncio.create_task(asyncio.to_thread(child.transcribe, long_note(speech)))
            for _ in range(100):
                seen.add(state(process.pid))
                await asyncio.sleep(0.01)
        assert "T" in seen  # stopped while the text turn ran
        transcript = await asyncio.wait_for(note, WAIT_S)
        assert transcript.text and state(process.pid) != "T"


async def test_endless_text_traffic_does_not_starve_a_note_in_a_process(
        tiny_model: Path, speech: Speech) -> None:
    text_first = TextFirst()
    # A text turn that never ends while the note is transcribed.
    with transcriber(tiny_model, text_first, yield_budget_s=0.3, yield_share=0.9) as child, text_first.turn():
        transcript = await asyncio.wait_for(asyncio.to_thread(child.transcribe, long_note(speech)), WAIT_S)
    assert transcript.text


def _kill_when_busy(times: int, stop: threading.Event) -> None:
    """SIGKILL the transcription process `times` times, each once it has been given a note."""
    killed = 0
    while killed < times and not stop.is_set():
        for process in children():
            if process.pid is not None and state(process.pid) == "R":
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
                time.sleep(0.2)
        time.sleep(0.005)


async def test_a_process_that_dies_mid_note_is_replaced_and_the_note_transcribed(
        tiny_model: Path, speech: Speech) -> None:
    audio = long_note(speech)
    with transcriber(tiny_model) as child:
        expected = await asyncio.to_thread(child.transcribe, audio)
        [first] = children()
        stop = threading.Event()
        killer = threading.Thread(target=_kill_when_busy, args=(1, stop))
        killer.start()
        try:
            transcript = await asyncio.wait_for(asyncio.to_thread(child.transcribe, audio), WAIT_S * 2)
        finally:
            stop.set()
            killer.join()
        [second] = children()
    assert transcript.text == expected.text
    assert second.pid != first.pid and first.exitcode == -signal.SIGKILL


async def test_a_note_whose_process_keeps_dying_gets_the_polite_reply(
        tg, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:  # type: ignore[no-untyped-def]
    product = await start_product(model=str(tiny_model), transcribe_in="process", **FAST_DECODING)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_busy, args=(1000, stop))  # every process it starts
    killer.start()
    try:
        tg.add_file("voice-1", speech.ogg)
        tg.push_voice(CUSTOMER, "voice-1", duration=3)
        [reply] = await tg.wait_sent(1, timeout=WAIT_S * 2, chat_id=CUSTOMER)
    finally:
        stop.set()
        killer.join()
    await product.runtime.engine.idle()

    assert plain(reply) == VoiceError.reply
    [stored] = await customer_messages(product.runtime)  # the note itself is kept
    assert stored.meta["attachments"][0]["transcript"]["error"] == "failed"

"""Voice notes: the pipeline's overhead, and what voice traffic does to text dialogs.

1. Overhead. Wall time of `VoicePipeline.transcribe` (limits, fetch from
   memory, keeping the audio, PyAV decoding, the worker-pool hop, the
   transcription) against a bare `WhisperModel.transcribe` of the same bytes
   with the same model instance and the same arguments. Runs alternate;
   medians are compared. Target: ≤ 1.10×.
2. Text latency. Text messages go through the running product (engine,
   offline agent over the demo knowledge base, SQLite, outbox) to a channel
   that records delivery; latency is accept → delivered. Measured alone and
   with 10 voice notes in flight the whole time (each finished note is
   replaced at once). Blocks alternate; p95 is compared. Target: ≤ +20 %.

Without `--model`, a Whisper with random weights and the shape of
whisper-tiny (4+4 layers, d_model 384) is built locally (real weights cannot
be downloaded here). Its transcripts are a few gibberish tokens, so the cost
per note is mostly the encoder over a 30-second window, VAD and features, as
for a short note on a real model. Decoding is greedy without the temperature
ladder (`temperatures: [0.0]`) on both sides. `--priority normal` shows what
the lower priority of the transcription threads is worth.

    .venv/bin/python benchmarks/voice_pipeline.py [--model FOLDER] [--index DIR] [--priority P]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the test suite's model builder

from bots.channels.base import Channel
from bots.config import Settings
from bots.messages import Attachment, InboundMessage, OutboundMessage
from bots.runtime import Runtime
from bots.voice import voice_pipeline
from pipelines.voice import VoiceNote

SPEECH = ("Здравствуйте! Я хочу открыть вклад на год. Подскажите, пожалуйста, какая сейчас ставка "
          "и можно ли пополнять вклад и снимать часть денег без потери процентов?")
QUESTION = "Какая сумма вкладов застрахована?"
IN_FLIGHT = 10
CHANNEL = "bench"


# -- inputs --------------------------------------------------------------------------


def speech_ogg(folder: Path) -> bytes:
    """A Telegram-like voice note (OGG/Opus 32 kbit/s) of Russian speech."""
    wav, ogg = folder / "speech.wav", folder / "speech.ogg"
    subprocess.run(["espeak-ng", "-v", "ru", "-w", str(wav), SPEECH], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", "32k",
                    "-ac", "1", "-ar", "48000", "-application", "voip", str(ogg)], check=True)
    return ogg.read_bytes()


def model_folder(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    from tests.voice.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(ROOT / "var" / "bench" / "random-whisper-tiny-shape",
                              d_model=384, layers=4, heads=6)


def demo_index(folder: Path) -> Path:
    from bots.assembly import knowledge_index
    from pipelines.ingest.run import ingest

    settings = Settings(base_dir=ROOT)
    ingest([ROOT / "knowledge/docs"], knowledge_index(settings, folder),
           embedder_config=settings.embeddings.model)
    return folder


def settings(tmp: Path, model: Path, index: Path, overrides: dict[str, Any]) -> Settings:
    voice: dict[str, Any] = {"model": str(model), "temperatures": [0.0], "audio_dir": str(tmp / "voice")}
    voice |= {key: value for key, value in overrides.items() if value is not None}
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp / 'bench.db'}"},
        "knowledge": {"index_dir": str(index)},
        "voice": voice,
        "base_dir": ROOT,
    })


# -- 1. overhead -----------------------------------------------------------------------


def direct(model: Any, data: bytes, kwargs: dict[str, Any]) -> float:
    start = time.perf_counter()
    segments, _ = model.transcribe(io.BytesIO(data), **kwargs)
    "".join(s.text for s in segments)
    return time.perf_counter() - start


async def overhead(conf: Settings, data: bytes, runs: int) -> None:
    pipeline = voice_pipeline(conf)
    await pipeline.start()

    async def fetch() -> bytes:
        return data

    async def through_pipeline(n: int) -> float:
        start = time.perf_counter()
        await pipeline.transcribe(VoiceNote(key=f"bench_{n}", mime_type="audio/ogg"), fetch)
        return time.perf_counter() - start

    transcriber = pipeline.transcriber
    await through_pipeline(-1)  # loads the model, warms caches
    model, kwargs = transcriber.model(), transcriber.transcribe_kwargs()  # type: ignore[attr-defined]
    direct(model, data, kwargs)
    bare, piped = [], []
    for n in range(runs):
        bare.append(direct(model, data, kwargs))
        piped.append(await through_pipeline(n))
    await pipeline.close()
    b, p = statistics.median(bare), statistics.median(piped)
    print("\n## Overhead: one voice note, pipeline vs bare WhisperModel.transcribe")
    print(f"# {runs} alternating runs each; kwargs {kwargs}")
    print("| path | median, s | min, s | max, s |\n|---|---|---|---|")
    print(f"| WhisperModel.transcribe | {b:.3f} | {min(bare):.3f} | {max(bare):.3f} |")
    print(f"| VoicePipeline.transcribe | {p:.3f} | {min(piped):.3f} | {max(piped):.3f} |")
    print(f"\nratio pipeline / direct: **{p / b:.3f}×** (target ≤ 1.10×)")


# -- 2. text latency under voice load ---------------------------------------------------


class BenchChannel(Channel):
    """Records when each dialog's reply is delivered; serves voice audio from memory."""

    name = CHANNEL

    def __init__(self, audio: bytes) -> None:
        self.audio = audio
        self._waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, dialog_key: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[dialog_key] = future
        return future

    async def send(self, message: OutboundMessage) -> None:
        future = self._waiting.pop(message.dialog_key, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def fetch_media(self, attachment: Attachment, *, max_bytes: int | None = None) -> bytes:
        return self.audio


def inbound(key: str, text: str = "", voice: bool = False) -> InboundMessage:
    attachments = (Attachment(kind="voice", media_ref="speech", mime_type="audio/ogg",
                              duration_s=10, size_bytes=30_000),) if voice else ()
    return InboundMessage(channel=CHANNEL, external_update_id=key, dialog_key=key, user_ref=key,
                          text=text, attachments=attachments)


class Load:
    """Keeps `IN_FLIGHT` voice notes in the product until stopped."""

    def __init__(self, runtime: Runtime, channel: BenchChannel) -> None:
        self.runtime, self.channel = runtime, channel
        self.stop = asyncio.Event()
        self.done = 0
        self._serial = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.stop.clear()
        self._tasks = [asyncio.create_task(self._feed()) for _ in range(IN_FLIGHT)]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)

    async def _feed(self) -> None:
        while not self.stop.is_set():
            self._serial += 1
            key = f"voice-{self._serial}"
            delivered = self.channel.expect(key)
            await self.runtime.engine.accept(inbound(key, voice=True))
            await delivered
            self.done += 1


async def text_block(runtime: Runtime, channel: BenchChannel, n: int, tag: str,
                     in_flight: list[int]) -> list[float]:
    latencies = []
    for i in range(n):
        key = f"text-{tag}-{i}"
        delivered = channel.expect(key)
        in_flight.append(runtime.voice.pool.admitted if runtime.voice else 0)
        start = time.perf_counter()
        await runtime.engine.accept(inbound(key, QUESTION))
        latencies.append((await delivered - start) * 1000)
        await asyncio.sleep(random.uniform(0.01, 0.05))
    return latencies


async def latency(conf: Settings, data: bytes, rounds: int, per_block: int) -> None:
    runtime = Runtime.build(conf)
    channel = BenchChannel(data)
    runtime.channels[CHANNEL] = channel
    await runtime.start()
    load = Load(runtime, channel)
    try:
        await text_block(runtime, channel, 5, "warm", [])  # loads the index and the lemmatizer
        warm = channel.expect("voice-warm")  # and the speech model
        await runtime.engine.accept(inbound("voice-warm", voice=True))
        await warm
        alone, loaded, seen = [], [], []
        for r in range(rounds):
            alone += await text_block(runtime, channel, per_block, f"alone{r}", [])
            load.start()
            while runtime.voice and runtime.voice.pool.admitted < IN_FLIGHT:
                await asyncio.sleep(0.01)
            loaded += await text_block(runtime, channel, per_block, f"loaded{r}", seen)
            await load.finish()
    finally:
        await runtime.stop()
    report_latency(alone, loaded, seen, load.done)


def report_latency(alone: list[float], loaded: list[float], seen: list[int], notes: int) -> None:
    a50, a95 = percentiles(alone)
    l50, l95 = percentiles(loaded)
    print(f"\n## Text-message latency with {IN_FLIGHT} voice notes in flight")
    print(f"# {len(alone)} + {len(loaded)} text messages in alternating blocks; voice notes in the "
          f"pipeline while a text was sent: mean {statistics.mean(seen):.1f}, min {min(seen)}; "
          f"{notes} voice notes transcribed")
    print("| condition | p50, ms | p95, ms | max, ms |\n|---|---|---|---|")
    print(f"| text only | {a50:.0f} | {a95:.0f} | {max(alone):.0f} |")
    print(f"| with {IN_FLIGHT} voice notes | {l50:.0f} | {l95:.0f} | {max(loaded):.0f} |")
    print(f"\np95 change: **{l95 / a95 - 1:+.1%}** (target ≤ +20 %)")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a CTranslate2 Whisper folder (default: random weights)")
    parser.add_argument("--index", type=Path, help="an index of knowledge/docs (default: built now)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-block", type=int, default=20)
    parser.add_argument("--priority", choices=["idle", "low", "normal"], help="override voice.priority")
    parser.add_argument("--threads", type=int, help="override voice.threads")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = speech_ogg(tmp)
        model = model_folder(args.model)
        index = args.index or demo_index(tmp / "index")
        conf = settings(tmp, model, index, {"priority": args.priority, "threads": args.threads})
        print(f"# model {model.name}; voice note {len(data)} bytes; workers {conf.voice.workers}, "
              f"threads {conf.voice.threads}, priority {conf.voice.priority}, queue {conf.voice.queue_size}")
        if not args.skip_overhead:
            asyncio.run(overhead(conf, data, args.runs))
        asyncio.run(latency(conf, data, args.rounds, args.per_block))


if __name__ == "__main__":
    main()

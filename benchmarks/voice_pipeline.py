"""Voice notes on a busy machine: a note's latency, and what voice traffic does to text replies.

Everything runs while `--burners` processes (default: one per core) spin
at normal priority the whole time, as other services of a busy server would.

1. Voice-note latency. A voice note through the running product (accept →
   engine → pipeline → agent → delivered), alone and with text messages
   flowing at the same time, against a bare `WhisperModel.transcribe` of the
   same bytes on a model of its own built at normal priority, with the
   arguments the product uses for that note. Runs alternate; medians are
   compared. Target: ≤ 1.5×.
2. Text latency. Text messages through the running product (engine, offline
   agent over the demo knowledge base, SQLite, outbox) to a channel that
   records delivery; accept → delivered. Measured alone and with `--in-flight`
   voice notes in the pipeline the whole time (each finished note is replaced
   at once). Blocks alternate; p95 is compared. Target: ≤ 1.3×.

The model is the real multilingual Whisper base (its two PyPI wheels,
assembled by `tests/voice/real_whisper.py`), or `--model FOLDER`. Decoding
is the product's defaults (the temperature ladder with its per-note
deadline, the token cap) unless overridden.

    .venv/bin/python benchmarks/voice_pipeline.py [--model FOLDER] [--burners N] [--priority P]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentiles

sys.path.insert(0, str(ROOT))  # the test suite's model builder

from bots.channels.base import Channel
from bots.config import Settings
from bots.messages import Attachment, InboundMessage, OutboundMessage
from bots.runtime import Runtime
from pipelines.voice.audio import SAMPLE_RATE, decode
from pipelines.voice.transcriber import FasterWhisperTranscriber

SPEECH = "Здравствуйте! Я хочу открыть вклад на год. Какая сейчас ставка?"
QUESTION = "Какая сумма вкладов застрахована?"
CHANNEL = "bench"
BURN = "while True: pass"


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
    from tests.voice.real_whisper import whisper_base

    return whisper_base()


@contextmanager
def burning(n: int) -> Iterator[None]:
    """`n` processes spinning on a core each at normal priority, for the whole block."""
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]
    try:
        time.sleep(1.0)
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def demo_index(folder: Path) -> Path:
    from bots.assembly import knowledge_index
    from pipelines.ingest.run import ingest

    settings = Settings(base_dir=ROOT)
    ingest([ROOT / "knowledge/docs"], knowledge_index(settings, folder),
           embedder_config=settings.embeddings.model)
    return folder


def settings(tmp: Path, model: Path, index: Path, overrides: dict[str, Any]) -> Settings:
    voice: dict[str, Any] = {"model": str(model), "audio_dir": str(tmp / "voice")}
    voice |= {key: value for key, value in overrides.items() if value is not None}
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp / 'bench.db'}"},
        "knowledge": {"index_dir": str(index)},
        "voice": voice,
        "base_dir": ROOT,
    })


# -- 1. voice-note latency ---------------------------------------------------------------


def direct_model(conf: Settings) -> Any:
    """A model of its own at normal priority, built as faster-whisper's README does."""
    from faster_whisper import WhisperModel

    v = conf.voice
    return WhisperModel(v.model, device=v.device, compute_type=v.compute_type, cpu_threads=v.threads,
                        num_workers=v.workers, local_files_only=True)


def direct(model: Any, data: bytes, kwargs: dict[str, Any]) -> float:
    start = time.perf_counter()
    audio = decode(data, 600)  # faster-whisper's decode_audio runs gc.collect(): not the model's cost
    segments, _ = model.transcribe(audio, **kwargs)
    "".join(s.text for s in segments)
    return time.perf_counter() - start


async def through_product(runtime: Runtime, channel: BenchChannel, key: str) -> float:
    delivered = channel.expect(key)
    start = time.perf_counter()
    await runtime.engine.accept(inbound(key, voice=True))
    return await delivered - start


async def texts_flowing(runtime: Runtime, channel: BenchChannel, stop: asyncio.Event, tag: str) -> int:
    """Text messages one after another (as `text_block` sends them) until `stop`."""
    sent = 0
    while not stop.is_set():
        await text_block(runtime, channel, 1, f"flow{tag}-{sent}", [])  # unique: repeats are dropped
        sent += 1
    return sent


async def voice_latency(conf: Settings, data: bytes, runs: int) -> None:
    runtime = Runtime.build(conf)
    channel = BenchChannel(data)
    runtime.channels[CHANNEL] = channel
    await runtime.start()
    assert runtime.voice is not None
    transcriber = runtime.voice.transcriber
    try:
        await text_block(runtime, channel, 3, "warm", [])  # loads the index and the lemmatizer
        await through_product(runtime, channel, "voice-warm")  # and the speech model
        # In this process whichever way the product transcribes (the token cap needs the tokenizer).
        local = FasterWhisperTranscriber(transcriber.options)  # type: ignore[attr-defined]
        kwargs = local.note_kwargs(decode(data, 600).size / SAMPLE_RATE)
        model = direct_model(conf)
        direct(model, data, kwargs)
        bare, quiet, busy, flowed = [], [], [], 0
        for n in range(runs):
            bare.append(direct(model, data, kwargs))
            quiet.append(await through_product(runtime, channel, f"voice-q{n}"))
            stop = asyncio.Event()
            flow = asyncio.create_task(texts_flowing(runtime, channel, stop, str(n)))
            busy.append(await through_product(runtime, channel, f"voice-b{n}"))
            stop.set()
            flowed += await flow
            print(f"# run {n}: direct {bare[-1]:.2f} s, alone {quiet[-1]:.2f} s, "
                  f"texts flowing {busy[-1]:.2f} s",
                  flush=True)
    finally:
        await runtime.stop()
    b = statistics.median(bare)
    print("\n## Voice-note latency: through the product vs a bare WhisperModel.transcribe")
    print(f"# {runs} alternating runs each; kwargs {kwargs}; {flowed} texts sent during the busy runs")
    print("| path | median, s | min, s | max, s | ratio to direct |\n|---|---|---|---|---|")
    for name, runs_s in (("WhisperModel.transcribe (own model, normal priority)", bare),
                         ("product, voice note alone", quiet),
                         ("product, texts flowing meanwhile", busy)):
        m = statistics.median(runs_s)
        print(f"| {name} | {m:.2f} | {min(runs_s):.2f} | {max(runs_s):.2f} | {m / b:.2f}× |")
    print("\ntarget: ≤ 1.5×")


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
    """Keeps `in_flight` voice notes in the product until stopped."""

    def __init__(self, runtime: Runtime, channel: BenchChannel, in_flight: int) -> None:
        self.runtime, self.channel, self.in_flight = runtime, channel, in_flight
        self.stop = asyncio.Event()
        self.done = 0
        self._serial = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.stop.clear()
        self._tasks = [asyncio.create_task(self._feed()) for _ in range(self.in_flight)]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)

    async def _feed(self) -> None:
        while not self.stop.is_set():
            self._serial += 1
            key = f"voice-load-{self._serial}"
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


async def latency(conf: Settings, data: bytes, rounds: int, per_block: int, in_flight: int) -> None:
    runtime = Runtime.build(conf)
    channel = BenchChannel(data)
    runtime.channels[CHANNEL] = channel
    await runtime.start()
    load = Load(runtime, channel, in_flight)
    try:
        # Keys differ from part 1's: both parts share the store, where a repeated key is dropped.
        await text_block(runtime, channel, 5, "warm-text", [])  # loads the index and the lemmatizer
        warm = channel.expect("voice-warm-text")  # and the speech model
        await runtime.engine.accept(inbound("voice-warm-text", voice=True))
        await warm
        alone, loaded, seen = [], [], []
        for r in range(rounds):
            alone += await text_block(runtime, channel, per_block, f"alone{r}", [])
            load.start()
            while runtime.voice and runtime.voice.pool.admitted < in_flight:
                await asyncio.sleep(0.01)
            loaded += await text_block(runtime, channel, per_block, f"loaded{r}", seen)
            await load.finish()
    finally:
        await runtime.stop()
    report_latency(alone, loaded, seen, load.done, in_flight)


def report_latency(alone: list[float], loaded: list[float], seen: list[int], notes: int,
                   in_flight: int) -> None:
    a50, a95 = percentiles(alone)
    l50, l95 = percentiles(loaded)
    print(f"\n## Text-message latency with {in_flight} voice notes in flight")
    print(f"# {len(alone)} + {len(loaded)} text messages in alternating blocks; voice notes in the "
          f"pipeline while a text was sent: mean {statistics.mean(seen):.1f}, min {min(seen)}; "
          f"{notes} voice notes transcribed")
    print("| condition | p50, ms | p95, ms | max, ms |\n|---|---|---|---|")
    print(f"| text only | {a50:.0f} | {a95:.0f} | {max(alone):.0f} |")
    print(f"| with {in_flight} voice notes | {l50:.0f} | {l95:.0f} | {max(loaded):.0f} |")
    print(f"\np95 ratio: **{l95 / a95:.2f}×** (target ≤ 1.3×)")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    # Idle CTranslate2 threads of one model (OpenMP's default: spin a while after each step)
    # would take cores from the other side; the product's child process sleeps them too.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a CTranslate2 Whisper folder (default: Whisper base)")
    parser.add_argument("--index", type=Path, help="an index of knowledge/docs (default: built now)")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="CPU burners (0: none)")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-block", type=int, default=15)
    parser.add_argument("--in-flight", type=int, default=5)
    parser.add_argument("--priority", choices=["idle", "low", "normal"], help="override voice.priority")
    parser.add_argument("--threads", type=int, help="override voice.threads")
    parser.add_argument("--temperatures", type=float, nargs="+", help="override voice.temperatures")
    parser.add_argument("--yield-budget", type=float, help="override voice.yield_budget_s")
    parser.add_argument("--transcribe-in", choices=["process", "thread"], help="override voice.transcribe_in")
    parser.add_argument("--yield-share", type=float, help="override voice.yield_share")
    parser.add_argument("--skip-voice", action="store_true", help="only the text-latency part")
    args = parser.parse_args()
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = speech_ogg(tmp)
        model = model_folder(args.model)
        index = args.index or demo_index(tmp / "index")
        conf = settings(tmp, model, index, {"priority": args.priority, "threads": args.threads,
                                            "temperatures": args.temperatures,
                                            "yield_budget_s": args.yield_budget,
                                            "transcribe_in": args.transcribe_in,
                                            "yield_share": args.yield_share})
        v, seconds = conf.voice, decode(data, 600).size / SAMPLE_RATE
        print(f"# model {model.name}; voice note {len(data)} bytes, {seconds:.1f} s; "
              f"workers {v.workers}, threads {v.threads}, priority {v.priority}, queue {v.queue_size}, "
              f"temperatures {list(v.temperatures)}, ladder deadline {v.ladder_deadline_s} s, "
              f"yield budget {v.yield_budget_s} s, share {v.yield_share}; in a {v.transcribe_in}; "
              f"{args.burners} CPU burner(s)")
        with burning(args.burners):
            if not args.skip_voice:
                asyncio.run(voice_latency(conf, data, args.runs))
            asyncio.run(latency(conf, data, args.rounds, args.per_block, args.in_flight))
            print(f"\n# load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

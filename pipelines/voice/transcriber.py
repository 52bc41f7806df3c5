"""Speech → text: the `Transcriber` interface and its faster-whisper implementation.

A transcriber is blocking and CPU-bound: the pipeline calls it from its
worker threads, never from the event loop. The faster-whisper model is
loaded once, on first use, and shared by every worker; nothing is ever
downloaded (a model name must already be in the Hugging Face cache). Its
compute threads run at `priority` (see `pipelines.voice.priority`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pipelines.voice.audio import SAMPLE_RATE
from pipelines.voice.errors import VoiceUnavailable
from pipelines.voice.pacing import NoteClock, TextFirst
from pipelines.voice.priority import Priority, build_at

if TYPE_CHECKING:
    from pipelines.voice.paced_whisper import PacedWhisperModel

log = logging.getLogger(__name__)

WHISPER_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
WINDOW_S = 30.0  # Whisper reads audio in 30-second windows
MAX_LENGTH = 448  # Whisper's decoder positions: hint + prompt + new tokens
#: Generous for speech (Russian runs at about 3 words, 6–8 tokens, a second): a decode that
#: loops («ска, ска, ска…») stops here instead of running to 224 tokens.
TOKENS_PER_S = 12


@dataclass(frozen=True)
class Transcript:
    """The text of one voice note and what the model knows about it."""

    text: str
    language: str | None
    language_probability: float | None
    duration_s: float
    confidence: float | None = None  # exp(mean avg_logprob) of the segments
    no_speech_prob: float | None = None  # the highest of the segments'
    compression_ratio: float | None = None  # of the text (gzip): above ~2.4 it repeats itself


class Transcriber(Protocol):
    """Turns 16 kHz mono float32 speech into text."""

    name: str

    def unavailable_reason(self) -> str | None:
        """Why this transcriber cannot work here (no model on disk), or None; loads nothing."""
        ...

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe one voice note; blocking, called from a worker thread."""
        ...


@dataclass(frozen=True)
class WhisperOptions:
    """faster-whisper settings: the model (name or CTranslate2 folder) and decoding."""

    model: str
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = "ru"  # None: detect
    beam_size: int = 1
    temperatures: tuple[float, ...] = WHISPER_LADDER
    threads: int = 2
    workers: int = 1
    vad_filter: bool = True
    priority: Priority = "normal"
    initial_prompt: str | None = None  # text the decoder reads as if said before the note
    hotwords: str | None = None  # the same, put before every 30-second window
    ladder_deadline_s: float | None = 10.0  # after this long on one note, no more fallback decodes
    yield_budget_s: float = 2.0  # how long one note may wait in all for text turns to finish


class FasterWhisperTranscriber:
    """`Transcriber` on faster-whisper (CTranslate2), int8 on the CPU by default."""

    def __init__(self, options: WhisperOptions, text_first: TextFirst | None = None) -> None:
        self.options = options
        self.text_first = text_first
        self.name = Path(options.model).name or options.model
        self._model: PacedWhisperModel | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    def unavailable_reason(self) -> str | None:
        """None when the model folder (or cached model) is on disk."""
        if self._failure is not None:
            return self._failure
        try:
            self._model_path()
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe with the configured language, beam, temperatures, hint and VAD, paced."""
        model = self.model()
        model.clocked(NoteClock(self.options.yield_budget_s, self.options.ladder_deadline_s))
        texts: list[str] = []
        logprobs: list[float] = []
        no_speech: list[float] = []
        try:
            segments, info = model.transcribe(audio, **self.note_kwargs(audio.size / SAMPLE_RATE))
            for segment in segments:  # a generator: the decoding happens here
                if segment.text.strip():
                    texts.append(segment.text.strip())
                    logprobs.append(segment.avg_logprob)
                    no_speech.append(segment.no_speech_prob)
        finally:
            model.clocked(None)
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
        return Transcript(text=" ".join(texts), language=info.language,
                          language_probability=float(info.language_probability),
                          duration_s=float(info.duration), confidence=confidence,
                          no_speech_prob=max(no_speech) if no_speech else None,
                          compression_ratio=_compression_ratio(" ".join(texts)))

    def transcribe_kwargs(self) -> dict[str, Any]:
        """`WhisperModel.transcribe` arguments of every note."""
        opts = self.options
        temperature: float | list[float] = (opts.temperatures[0] if len(opts.temperatures) == 1
                                            else list(opts.temperatures))
        return {"language": opts.language, "beam_size": opts.beam_size, "temperature": temperature,
                "vad_filter": opts.vad_filter, "initial_prompt": opts.initial_prompt or None,
                "hotwords": opts.hotwords or None}

    def note_kwargs(self, seconds: float) -> dict[str, Any]:
        """`WhisperModel.transcribe` arguments for one note of `seconds` (the benchmark uses them too)."""
        return self.transcribe_kwargs() | self._token_cap(self.model(), seconds)

    def _token_cap(self, model: PacedWhisperModel, seconds: float) -> dict[str, Any]:
        """`max_new_tokens` for a note of one window, so that a looping decode ends early."""
        if seconds > WINDOW_S:  # later windows carry the previous window's text as a prompt
            return {}
        hints = [h for h in (self.options.initial_prompt, self.options.hotwords) if h]
        hint_tokens = sum(min(len(model.hf_tokenizer.encode(" " + h).ids), MAX_LENGTH // 2 - 1)
                          for h in hints)
        room = MAX_LENGTH - hint_tokens - 8  # the start-of-transcript tokens, with a margin
        return {"max_new_tokens": max(8, min(room, round(TOKENS_PER_S * seconds) + 16))}

    def model(self) -> PacedWhisperModel:
        """The shared model, loaded on first call; `VoiceUnavailable` when it cannot be."""
        if self._model is not None:
            return self._model
        with self._lock:  # one load even when several workers start at once
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> PacedWhisperModel:
        if self._failure is not None:
            raise VoiceUnavailable(self._failure)
        # CTranslate2's OpenMP threads otherwise spin between the decoder's steps (while Python
        # picks the next token), taking cores from text turns; read when ctranslate2 is loaded,
        # so it holds where nothing loaded it before (docs/benchmarks.md, «child process»).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from pipelines.voice.paced_whisper import PacedWhisperModel

        opts = self.options
        try:
            path = self._model_path()
            model = build_at(opts.priority, lambda: PacedWhisperModel(
                path, device=opts.device, compute_type=opts.compute_type, cpu_threads=opts.threads,
                num_workers=opts.workers, local_files_only=True, text_first=self.text_first))
        except Exception as exc:  # a broken folder, too little memory, an unsupported compute type
            self._failure = f"{type(exc).__name__}: {exc}"
            log.error("speech model %r could not be loaded (%s); voice notes will not be transcribed",
                      opts.model, self._failure)
            raise VoiceUnavailable(self._failure) from exc
        log.info("speech model %r loaded (%s, %s, %s priority)", opts.model, opts.device,
                 opts.compute_type, opts.priority)
        return model

    def _model_path(self) -> str:
        """The model's folder: the configured one, or the cached copy of a named model."""
        name = self.options.model
        folder = Path(name)
        if folder.is_dir():
            if not (folder / "model.bin").is_file():
                raise FileNotFoundError(f"{folder}: no model.bin, not a CTranslate2 Whisper model folder")
            return str(folder)
        if folder.is_absolute() or name.startswith(".") or name.count("/") > 1:
            raise FileNotFoundError(f"{folder}: no such model folder")
        from faster_whisper.utils import download_model

        try:
            return str(download_model(name, local_files_only=True))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"{name!r} is neither a model folder nor a model "
                                    "in the Hugging Face cache") from exc


def _compression_ratio(text: str) -> float | None:
    """How much `text` shrinks under zlib, as Whisper measures a looping decode."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else None

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
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pipelines.voice.errors import VoiceUnavailable
from pipelines.voice.priority import Priority, build_at

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

WHISPER_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Transcript:
    """The text of one voice note and what the model knows about it."""

    text: str
    language: str | None
    language_probability: float | None
    duration_s: float
    confidence: float | None = None  # exp(mean avg_logprob) of the segments


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
    priority: Priority = "idle"


class FasterWhisperTranscriber:
    """`Transcriber` on faster-whisper (CTranslate2), int8 on the CPU by default."""

    def __init__(self, options: WhisperOptions) -> None:
        self.options = options
        self.name = Path(options.model).name or options.model
        self._model: WhisperModel | None = None
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
        """Transcribe with the configured language, beam, temperatures and VAD."""
        segments, info = self.model().transcribe(audio, **self.transcribe_kwargs())
        texts: list[str] = []
        logprobs: list[float] = []
        for segment in segments:  # a generator: the decoding happens here
            if segment.text.strip():
                texts.append(segment.text.strip())
                logprobs.append(segment.avg_logprob)
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
        return Transcript(text=" ".join(texts), language=info.language,
                          language_probability=float(info.language_probability),
                          duration_s=float(info.duration), confidence=confidence)

    def transcribe_kwargs(self) -> dict[str, Any]:
        """`WhisperModel.transcribe` arguments (the benchmark calls it directly with the same)."""
        opts = self.options
        temperature: float | list[float] = (opts.temperatures[0] if len(opts.temperatures) == 1
                                            else list(opts.temperatures))
        return {"language": opts.language, "beam_size": opts.beam_size, "temperature": temperature,
                "vad_filter": opts.vad_filter}

    def model(self) -> WhisperModel:
        """The shared model, loaded on first call; `VoiceUnavailable` when it cannot be."""
        if self._model is not None:
            return self._model
        with self._lock:  # one load even when several workers start at once
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> WhisperModel:
        if self._failure is not None:
            raise VoiceUnavailable(self._failure)
        from faster_whisper import WhisperModel

        opts = self.options
        try:
            path = self._model_path()
            model = build_at(opts.priority, lambda: WhisperModel(
                path, device=opts.device, compute_type=opts.compute_type, cpu_threads=opts.threads,
                num_workers=opts.workers, local_files_only=True))
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

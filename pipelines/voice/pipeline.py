"""The voice pipeline: check → fetch → keep → decode → transcribe.

One `VoicePipeline` per process holds the transcriber (its model loads once,
lazily, in a worker thread), the bounded worker pool and the audio archive.
Everything that can go wrong with a voice note ends as a `VoiceError` whose
`reply` the customer reads; nothing here raises anything else.

Cheap checks come first (model present, media type, declared duration and
size) so a note that cannot be transcribed is never downloaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.voice.archive import AudioArchive
from pipelines.voice.audio import SAMPLE_RATE, check_mime_type, decode
from pipelines.voice.errors import (
    VoiceEmpty,
    VoiceError,
    VoiceNoSpeech,
    VoiceTooBig,
    VoiceTooLong,
    VoiceUnavailable,
)
from pipelines.voice.pacing import TextFirst
from pipelines.voice.pool import WorkerPool
from pipelines.voice.transcriber import Transcriber, Transcript

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class VoiceLimits:
    """What a voice note may be: its length and its size."""

    max_duration_s: float
    max_bytes: int


@dataclass(frozen=True)
class VoiceNote:
    """What the messenger told about a voice note before its audio is fetched."""

    key: str  # unique per note (channel, dialog, update): names the kept audio file
    mime_type: str | None = None
    duration_s: float | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class VoiceResult:
    """A transcript and where its audio was kept (None: not kept)."""

    transcript: Transcript
    audio_file: Path | None


class VoicePipeline:
    """Transcribes voice notes off the event loop, within limits."""

    def __init__(self, transcriber: Transcriber, limits: VoiceLimits, pool: WorkerPool,
                 archive: AudioArchive, *, text_first: TextFirst | None = None) -> None:
        self.transcriber = transcriber
        self.text_first = text_first or TextFirst()  # text turns enter it; transcriptions yield
        self.limits = limits
        self.pool = pool
        self.archive = archive
        self._unavailable: str | None = None
        self._checked = False
        self._checking = asyncio.Lock()

    async def start(self) -> bool:
        """Check that the model is on disk (one warning when not) and prune old audio."""
        await self._check()
        await asyncio.to_thread(self.archive.prune)
        return self._unavailable is None

    @property
    def available(self) -> bool:
        """Whether voice notes can be transcribed (as far as is known now)."""
        return self._unavailable is None

    async def transcribe(self, note: VoiceNote, fetch: Fetch) -> VoiceResult:
        """The transcript of `note`, whose audio `fetch` downloads; `VoiceError` otherwise."""
        await self._check()
        if self._unavailable is not None:
            raise VoiceUnavailable(self._unavailable)
        self._check_declared(note)
        with self.pool.admission():
            data = await self._fetch(fetch)
            self._check_size(len(data))
            audio_file = await self._keep(note, data)
            transcript = await self.pool.run(self._work, data)
        if not transcript.text.strip():
            raise VoiceNoSpeech(f"no words in {transcript.duration_s:.1f} s of audio")
        return VoiceResult(transcript, audio_file)

    async def close(self) -> None:
        """Stop taking work; a transcription under way finishes in its thread (or its process ends)."""
        self.pool.close()
        close = getattr(self.transcriber, "close", None)
        if close is not None:  # a `ChildTranscriber`'s processes
            await asyncio.to_thread(close)

    # -- steps ------------------------------------------------------------------

    async def _check(self) -> None:
        async with self._checking:  # notes arriving during the check wait for its answer
            if self._checked:
                return
            reason = await asyncio.to_thread(self.transcriber.unavailable_reason)
            self._checked = True
            if reason is None:
                return
            self._unavailable = reason
        log.warning("Voice notes will not be transcribed: no speech model (%s). Customers who send one "
                    "are asked to write instead. Put a faster-whisper model folder on disk and set "
                    "voice.model to it (README, «Voice notes»).", reason)

    def _check_declared(self, note: VoiceNote) -> None:
        check_mime_type(note.mime_type)
        if note.duration_s is not None and note.duration_s > self.limits.max_duration_s:
            raise VoiceTooLong(f"declared {note.duration_s} s", self.limits.max_duration_s)
        if note.size_bytes is not None:
            self._check_size(note.size_bytes)

    def _check_size(self, size: int) -> None:
        if size <= 0:
            raise VoiceEmpty("zero bytes")
        if size > self.limits.max_bytes:
            raise VoiceTooBig(f"{size} bytes", self.limits.max_bytes)

    async def _fetch(self, fetch: Fetch) -> bytes:
        try:
            return await fetch()
        except VoiceError:
            raise
        except Exception as exc:  # network, messenger, expired file: the customer can resend
            log.warning("voice note could not be downloaded: %s: %s", type(exc).__name__, exc)
            raise VoiceError(f"download failed: {exc}") from exc

    async def _keep(self, note: VoiceNote, data: bytes) -> Path | None:
        try:
            return await asyncio.to_thread(self.archive.save, note.key, data, note.mime_type)
        except OSError as exc:  # a full disk must not cost the customer the answer
            log.warning("voice audio could not be kept in %s: %s", self.archive.folder, exc)
            return None

    def _work(self, data: bytes) -> Transcript:
        """Decode and transcribe (in a worker thread)."""
        audio = decode(data, self.limits.max_duration_s)
        try:
            return self.transcriber.transcribe(audio)
        except VoiceUnavailable as exc:
            self._unavailable = str(exc)
            raise
        except VoiceError:
            raise
        except Exception as exc:
            log.exception("transcription of %.1f s of audio failed", audio.size / SAMPLE_RATE)
            raise VoiceError(f"transcription failed: {exc}") from exc

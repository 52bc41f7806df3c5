"""Audio bytes → 16 kHz mono float32 samples, through PyAV (FFmpeg inside the wheel).

Telegram and WhatsApp send OGG/Opus; VK, Max and Avito MP3 or M4A (AAC).
Decoding stops as soon as the audio runs past the duration limit, so a file
that lies about its length costs no more than the limit.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator

import av
import numpy as np

from pipelines.voice.errors import VoiceCorrupt, VoiceEmpty, VoiceTooLong, VoiceUnsupported

SAMPLE_RATE = 16_000  # what Whisper's feature extractor expects
GROUP_SAMPLES = 500_000  # resample in large blocks: per-frame calls are slow

SUPPORTED_MIME_TYPES = frozenset({
    "audio/ogg", "audio/opus", "audio/x-opus+ogg", "application/ogg",
    "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3",
    "audio/mp4", "audio/m4a", "audio/x-m4a", "audio/aac", "audio/x-aac", "audio/mp4a-latm",
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave",
    "audio/webm",
})


def check_mime_type(mime_type: str | None) -> None:
    """Refuse a declared media type we do not decode; an unknown one is tried."""
    if mime_type is None:
        return
    base = mime_type.split(";", 1)[0].strip().lower()
    if base and base not in SUPPORTED_MIME_TYPES:
        raise VoiceUnsupported(f"media type {mime_type!r}")


def decode(data: bytes, max_duration_s: float) -> np.ndarray:
    """Decode `data` to Whisper's input; raise a `VoiceError` for empty, broken or long audio."""
    if not data:
        raise VoiceEmpty("zero bytes")
    limit = int(max_duration_s * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise VoiceUnsupported("no audio stream in the file")
            for block in _resampled(container.decode(audio=0)):
                samples = block.to_ndarray().reshape(-1)
                total += samples.size
                if total > limit:
                    raise VoiceTooLong(f"audio runs past {max_duration_s} s", max_duration_s)
                chunks.append(samples)
    except (av.error.FFmpegError, ValueError) as exc:
        raise VoiceCorrupt(f"{type(exc).__name__}: {exc}") from exc
    if not total:
        raise VoiceEmpty("no audio samples")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def _resampled(frames: Iterable[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    for block in itertools.chain(_grouped(_valid(frames)), [None]):
        yield from resampler.resample(block)  # None flushes the resampler


def _valid(frames: Iterable[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    """End at undecodable data instead of failing: what decoded before it is kept.

    (A generator that raised is finished, so this cannot skip ahead; the OGG
    demuxer itself resynchronises after damaged pages.)
    """
    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _grouped(frames: Iterable[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    fifo = av.AudioFifo()
    for frame in frames:
        frame.pts = None  # the FIFO checks timestamps; broken files have gaps
        fifo.write(frame)
        if fifo.samples >= GROUP_SAMPLES and (block := fifo.read()) is not None:
            yield block
    if fifo.samples and (block := fifo.read()) is not None:
        yield block

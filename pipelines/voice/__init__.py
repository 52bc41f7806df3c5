"""Voice notes: download → decode (PyAV) → transcribe (faster-whisper), off the event loop.

`VoicePipeline` is what the runtime uses; `Transcriber` is the interface a
speech model implements (`FasterWhisperTranscriber` here). Every failure is a
`VoiceError` carrying the Russian reply for the customer.
"""

from pipelines.voice.archive import AudioArchive
from pipelines.voice.errors import (
    VoiceBusy,
    VoiceCorrupt,
    VoiceEmpty,
    VoiceError,
    VoiceNoSpeech,
    VoiceTooBig,
    VoiceTooLong,
    VoiceUnavailable,
    VoiceUnsupported,
)
from pipelines.voice.pacing import NoteClock, TextFirst
from pipelines.voice.pipeline import VoiceLimits, VoiceNote, VoicePipeline, VoiceResult
from pipelines.voice.pool import WorkerPool
from pipelines.voice.priority import Priority
from pipelines.voice.transcriber import FasterWhisperTranscriber, Transcriber, Transcript, WhisperOptions

__all__ = [
    "AudioArchive",
    "FasterWhisperTranscriber",
    "NoteClock",
    "Priority",
    "TextFirst",
    "Transcriber",
    "Transcript",
    "VoiceBusy",
    "VoiceCorrupt",
    "VoiceEmpty",
    "VoiceError",
    "VoiceLimits",
    "VoiceNoSpeech",
    "VoiceNote",
    "VoicePipeline",
    "VoiceResult",
    "VoiceTooBig",
    "VoiceTooLong",
    "VoiceUnavailable",
    "VoiceUnsupported",
    "WhisperOptions",
    "WorkerPool",
]

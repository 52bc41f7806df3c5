"""faster-whisper's `WhisperModel`, paced: it yields to text turns and stops its fallback ladder in time.

The two steps that cost CPU are `encode` (once per 30-second window) and
`generate_with_fallback` (decodes of a window, one per temperature of the
ladder). Before each, the model waits for running text turns
(`TextFirst.wait`, within the note's budget); the ladder is walked one
temperature at a time, and no further rung starts once the note's deadline
has passed. The choice among finished decodes is faster-whisper's own.

Imported only where faster-whisper is (the model is loaded lazily).
"""

from __future__ import annotations

import threading
from typing import Any

from faster_whisper import WhisperModel
from faster_whisper.transcribe import TranscriptionOptions

from pipelines.voice.pacing import NoteClock, TextFirst

Decode = tuple[Any, float, float, float]  # result, avg_logprob, temperature, compression_ratio


class PacedWhisperModel(WhisperModel):
    """A `WhisperModel` whose calls follow the clock of the note being transcribed in this thread."""

    def __init__(self, *args: Any, text_first: TextFirst | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.text_first = text_first
        self._note = threading.local()

    def clocked(self, clock: NoteClock | None) -> None:
        """Set (or clear) the clock of the note this thread transcribes next."""
        self._note.clock = clock

    def encode(self, features: Any) -> Any:
        self._pace()
        return super().encode(features)

    def generate_with_fallback(self, encoder_output: Any, prompt: list[int], tokenizer: Any,
                               options: TranscriptionOptions) -> Decode:
        clock: NoteClock | None = getattr(self._note, "clock", None)
        tried: list[Decode] = []
        for temperature in options.temperatures:
            if tried and clock is not None and clock.ladder_closed():
                break
            self._pace()
            rung = TranscriptionOptions(**{**vars(options), "temperatures": [temperature]})
            decoded = super().generate_with_fallback(encoder_output, prompt, tokenizer, rung)
            tried.append(decoded)
            if not _needs_fallback(decoded, options):
                return decoded
        # As faster-whisper does when every rung failed: the most likely decode among those
        # that are not repetitive, reported with the last temperature tried.
        passing = [d for d in tried if options.compression_ratio_threshold is None
                   or d[3] <= options.compression_ratio_threshold]
        best = max(passing or tried, key=lambda d: d[1])
        return best[0], best[1], tried[-1][2], best[3]

    def _pace(self) -> None:
        clock: NoteClock | None = getattr(self._note, "clock", None)
        if self.text_first is not None and clock is not None:
            self.text_first.wait(clock)


def _needs_fallback(decoded: Decode, options: TranscriptionOptions) -> bool:
    """faster-whisper's own test of a decode (1.2.1, `generate_with_fallback`)."""
    result, avg_logprob, _, compression_ratio = decoded
    low_logprob = options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold
    if (options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold
            and low_logprob):
        return False  # silence
    repetitive = (options.compression_ratio_threshold is not None
                  and compression_ratio > options.compression_ratio_threshold)
    return repetitive or low_logprob

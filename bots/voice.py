"""Voice notes for the conversation engine: its `transcribe` hook.

The hook fetches a voice note's audio through the channel it came from,
runs the voice pipeline, and returns the message with the transcript as its
text (what the agent answers) and a `VoiceTranscript` on the attachment
(what is stored and shown to managers). When there is no transcript the
message comes back without text and with the reason and the customer's
reply on the attachment; the engine answers with that reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from bots.channels.base import Channel, MediaTooLarge
from bots.config import Settings
from bots.messages import MAX_TEXT_CHARS, Attachment, InboundMessage, VoiceTranscript
from pipelines.voice import (
    AudioArchive,
    FasterWhisperTranscriber,
    Transcriber,
    VoiceError,
    VoiceLimits,
    VoiceNote,
    VoicePipeline,
    VoiceResult,
    VoiceTooBig,
    WhisperOptions,
    WorkerPool,
)
from pipelines.voice.child import ChildTranscriber
from pipelines.voice.pacing import TextFirst
from pipelines.voice.vocabulary import as_prompt, bank_terms, knowledge_texts

log = logging.getLogger(__name__)

VOICE_KINDS = ("voice", "audio")
#: Whisper's own limit for a decode that loops («ска, ска, ска…»): such text is unsure however likely.
MAX_COMPRESSION_RATIO = 2.4


KB_HINT = "kb"  # `voice.initial_prompt` / `voice.hotwords`: built from the knowledge files


def voice_pipeline(settings: Settings) -> VoicePipeline:
    """The configured pipeline; nothing loads until the first voice note."""
    voice = settings.voice
    folder = settings.path(Path(voice.model))  # a relative folder is relative to config.yaml
    model = str(folder) if folder.is_dir() else voice.model
    options = WhisperOptions(model=model, device=voice.device, compute_type=voice.compute_type,
                             language=voice.language, beam_size=voice.beam_size,
                             temperatures=voice.temperatures, threads=voice.threads,
                             workers=voice.workers, vad_filter=voice.vad_filter,
                             priority=voice.priority, ladder_deadline_s=voice.ladder_deadline_s,
                             yield_budget_s=voice.yield_budget_s,
                             initial_prompt=hint(settings, voice.initial_prompt),
                             hotwords=hint(settings, voice.hotwords))
    text_first = TextFirst()
    transcriber: Transcriber = (ChildTranscriber(options, text_first, yield_share=voice.yield_share)
                                if voice.transcribe_in == "process"
                                else FasterWhisperTranscriber(options, text_first))
    return VoicePipeline(transcriber,
                         VoiceLimits(voice.max_duration_s, voice.max_bytes),
                         WorkerPool(voice.workers, voice.queue_size),
                         AudioArchive(settings.path(voice.audio_dir), voice.retention_days),
                         text_first=text_first)


def hint(settings: Settings, value: str | None) -> str | None:
    """A configured hint for the speech model: `kb` is the knowledge files' terms."""
    if value is None or not value.strip():
        return None
    if value.strip() != KB_HINT:
        return value.strip()
    terms = bank_terms(knowledge_texts(settings.path(settings.knowledge.docs_dir)))
    if not terms:
        # `kb` is the default: an empty knowledge folder (a new install) is no fault of the operator.
        log.info("voice hint %r: no terms found in %s; notes are transcribed without a hint",
                 KB_HINT, settings.knowledge.docs_dir)
    return as_prompt(terms) or None


class VoiceNotes:
    """`EngineHooks.transcribe`: a voice message in, the same message with its transcript out."""

    def __init__(self, pipeline: VoicePipeline, channels: Mapping[str, Channel], *,
                 min_confidence: float = 0.0, max_no_speech_prob: float = 1.0) -> None:
        self.pipeline = pipeline
        self.channels = channels
        self.min_confidence = min_confidence  # below it a transcript is `unsure` (bots.misheard)
        self.max_no_speech_prob = max_no_speech_prob

    async def __call__(self, message: InboundMessage) -> InboundMessage:
        """Never raises: a failure is recorded on the attachment with the customer's reply."""
        found = _voice_attachment(message)
        if found is None:
            return message
        index, attachment = found
        note = VoiceNote(key=f"{message.channel}_{message.dialog_key}_{message.external_update_id}",
                         mime_type=attachment.mime_type, duration_s=attachment.duration_s,
                         size_bytes=attachment.size_bytes)
        try:
            result = await self.pipeline.transcribe(note, lambda: self._fetch(message.channel, attachment))
        except VoiceError as exc:
            log.info("voice note %s not transcribed: %s (%s)", note.key, exc.code, exc)
            return _with(message, index, attachment, message.text, _failure(exc, attachment))
        except Exception as exc:  # a bug must cost one note, not the dialog's turn
            log.exception("voice note %s failed unexpectedly", note.key)
            return _with(message, index, attachment, message.text, _failure(VoiceError(str(exc)), attachment))
        text = "\n".join(t for t in (message.text, result.transcript.text) if t)
        return _with(message, index, attachment, text, self._transcript(result))

    async def _fetch(self, channel_name: str, attachment: Attachment) -> bytes:
        channel = self.channels.get(channel_name)
        if channel is None:
            raise VoiceError(f"channel {channel_name!r} is not running")
        try:
            return await channel.fetch_media(attachment, max_bytes=self.pipeline.limits.max_bytes)
        except MediaTooLarge as exc:
            raise VoiceTooBig(str(exc), exc.limit) from exc

    def _transcript(self, result: VoiceResult) -> VoiceTranscript:
        t = result.transcript
        unsure = ((t.confidence is not None and t.confidence < self.min_confidence)
                  or (t.no_speech_prob is not None and t.no_speech_prob > self.max_no_speech_prob)
                  or (t.compression_ratio is not None and t.compression_ratio > MAX_COMPRESSION_RATIO))
        return VoiceTranscript(text=t.text[:MAX_TEXT_CHARS], language=t.language,
                               language_probability=_rounded(t.language_probability),
                               confidence=_rounded(t.confidence), no_speech_prob=_rounded(t.no_speech_prob),
                               unsure=unsure, duration_s=round(t.duration_s, 2),
                               model=self.pipeline.transcriber.name,
                               audio_file=str(result.audio_file) if result.audio_file else None)


def _voice_attachment(message: InboundMessage) -> tuple[int, Attachment] | None:
    for index, attachment in enumerate(message.attachments):
        if attachment.kind in VOICE_KINDS and attachment.transcript is None:
            return index, attachment
    return None


def _failure(exc: VoiceError, attachment: Attachment) -> VoiceTranscript:
    return VoiceTranscript(duration_s=attachment.duration_s, error=exc.code, notice=exc.reply)


def _with(message: InboundMessage, index: int, attachment: Attachment, text: str,
          transcript: VoiceTranscript) -> InboundMessage:
    attachments = list(message.attachments)
    attachments[index] = attachment.model_copy(update={"transcript": transcript})
    return message.model_copy(update={"text": text[:MAX_TEXT_CHARS], "attachments": tuple(attachments)})


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

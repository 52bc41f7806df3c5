"""Channel-neutral messages: what a channel adapter produces and consumes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT_CHARS = 8000
#: `OutboundMessage.meta` key of the outbox item being delivered (set by the outbox).
OUTBOX_ID = "outbox_id"
#: `OutboundMessage.meta` key set when an earlier attempt at this item was cut off
#: (the process died mid-send): when that attempt began, as epoch seconds. A
#: messenger without idempotent sends checks what it already delivered since then.
OUTBOX_INTERRUPTED_AT = "outbox_interrupted_at"


class VoiceTranscript(BaseModel):
    """What speech recognition made of a voice note, or why it made nothing.

    `text` is what the agent reads; `error` is a short code (too_long,
    corrupt, busy, unavailable, ...) and `notice` the customer's reply
    instead of an answer when there is no text.
    """

    model_config = ConfigDict(frozen=True)

    text: str = ""
    language: str | None = None
    language_probability: float | None = None
    confidence: float | None = None
    no_speech_prob: float | None = None
    unsure: bool = False  # the model may have misheard: the customer is told what was heard
    duration_s: float | None = None
    model: str | None = None
    audio_file: str | None = None
    error: str | None = None
    notice: str | None = None


class Attachment(BaseModel):
    """A voice note, file or shared contact that came with a message."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["voice", "audio", "file", "contact", "image"]
    media_ref: str | None = None
    mime_type: str | None = None
    duration_s: float | None = None
    size_bytes: int | None = None
    phone: str | None = None
    name: str | None = None
    #: A shared contact the messenger vouches is the sender's own account (its number proven).
    verified: bool = False
    transcript: VoiceTranscript | None = None


class InboundMessage(BaseModel):
    """One message from a customer, as every channel reports it."""

    model_config = ConfigDict(frozen=True)

    channel: str
    external_update_id: str
    external_message_id: str | None = None
    dialog_key: str
    user_ref: str
    text: str = Field("", max_length=MAX_TEXT_CHARS)
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    raw: dict[str, Any] = Field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form for the inbox."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> InboundMessage:
        """Read back what `to_payload` stored."""
        return cls.model_validate(payload)


class OutboundMessage(BaseModel):
    """A reply to deliver through a channel."""

    model_config = ConfigDict(frozen=True)

    channel: str
    dialog_key: str
    text: str
    quick_replies: tuple[str, ...] = ()
    sources: tuple[dict[str, str], ...] = ()
    author: Literal["agent", "manager", "system"] = "agent"
    thread: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form for the outbox."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OutboundMessage:
        """Read back what `to_payload` stored."""
        return cls.model_validate(payload)

"""MAX updates → `InboundMessage`, and replies → MAX's text and inline keyboard.

Only `message_created` in a dialog with a person becomes a message. MAX updates
carry no update id: the message's `body.mid` is the inbox key, so a repeated
delivery (a webhook retry, a long poll after a restart) is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bots.channels.text import plain_text
from bots.messages import MAX_TEXT_CHARS, Attachment, InboundMessage, OutboundMessage

CHANNEL = "max"
BUTTONS_PER_ROW = 2
LABEL_LIMIT = 128


def to_inbound(update: dict[str, Any]) -> InboundMessage | None:
    """The channel-neutral form of a `message_created` update in a dialog; None for anything else."""
    if update.get("update_type") != "message_created":
        return None
    message = update.get("message")
    if not isinstance(message, dict):
        raise ValueError("message_created without message")
    recipient, sender = message.get("recipient") or {}, message.get("sender") or {}
    body = message.get("body") or {}
    if recipient.get("chat_type") != "dialog" or sender.get("is_bot"):
        return None
    mid = str(body["mid"])
    stamp = message.get("timestamp") or update.get("timestamp")
    return InboundMessage(
        channel=CHANNEL, external_update_id=mid, external_message_id=mid,
        dialog_key=str(int(recipient["chat_id"])), user_ref=str(int(sender["user_id"])),
        text=str(body.get("text") or "")[:MAX_TEXT_CHARS],
        attachments=_attachments(body.get("attachments") or []),
        received_at=datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else datetime.now(UTC),
        raw={"first_name": sender.get("first_name") or sender.get("name")},
    )


def _attachments(items: list[Any]) -> tuple[Attachment, ...]:
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
            continue
        kind, payload = item.get("type"), item["payload"]
        if kind == "audio" and payload.get("url"):
            return (Attachment(kind="voice", media_ref=str(payload["url"]), mime_type="audio/ogg",
                               duration_s=item.get("duration")),)
        if kind == "file" and payload.get("url"):
            return (Attachment(kind="file", media_ref=str(payload["url"]), size_bytes=item.get("size"),
                               name=item.get("filename")),)
    return ()


def render(message: OutboundMessage) -> str:
    """The reply as this messenger shows it: plain text (`bots.channels.text.plain_text`)."""
    return plain_text(message)


def keyboard(message: OutboundMessage) -> list[dict[str, Any]]:
    """Quick replies as an inline keyboard of `message` buttons (a tap sends the label as text)."""
    labels = [q[:LABEL_LIMIT] for q in message.quick_replies]
    if not labels:
        return []
    rows = [[{"type": "message", "text": label} for label in labels[i : i + BUTTONS_PER_ROW]]
            for i in range(0, len(labels), BUTTONS_PER_ROW)]
    return [{"type": "inline_keyboard", "payload": {"buttons": rows}}]

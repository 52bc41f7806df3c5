"""VK events → `InboundMessage`, and replies → VK's text and keyboard.

Only `message_new` from a person in a private dialog becomes a message; group
chats (peer ids from 2e9) and other communities are ignored. The event's
`event_id` is the inbox key, the same in the Callback API and Bots Long Poll,
so a redelivered event is dropped whichever way it came.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bots.channels.text import plain_text
from bots.messages import MAX_TEXT_CHARS, Attachment, InboundMessage, OutboundMessage

CHANNEL = "vk"
CHAT_PEER_MIN = 2_000_000_000  # peer ids of group chats start here
LABEL_LIMIT = 40  # VK refuses longer button labels
BUTTONS_PER_ROW = 2


def to_inbound(event: dict[str, Any]) -> InboundMessage | None:
    """The channel-neutral form of a `message_new` event; None for anything else."""
    if event.get("type") != "message_new":
        return None
    obj = event.get("object")
    message = obj.get("message") if isinstance(obj, dict) else None
    if not isinstance(message, dict):
        raise ValueError("message_new without object.message")
    peer, sender = int(message["peer_id"]), int(message["from_id"])
    if peer >= CHAT_PEER_MIN or sender <= 0:
        return None
    event_id = str(event.get("event_id") or f"m{peer}:{message['id']}")
    text = str(message.get("text") or "")
    return InboundMessage(
        channel=CHANNEL, external_update_id=event_id, external_message_id=str(message.get("id", "")),
        dialog_key=str(peer), user_ref=str(sender), text=text[:MAX_TEXT_CHARS],
        attachments=_attachments(message.get("attachments") or []),
        received_at=datetime.fromtimestamp(int(message.get("date") or 0), UTC)
        if message.get("date") else datetime.now(UTC),
        raw={"payload": message.get("payload")} if message.get("payload") else {},
    )


def _attachments(items: list[Any]) -> tuple[Attachment, ...]:
    for item in items:
        if not isinstance(item, dict):
            continue
        kind, body = item.get("type"), item.get(item.get("type") or "")
        if not isinstance(body, dict):
            continue
        if kind == "audio_message" and body.get("link_ogg"):
            return (Attachment(kind="voice", media_ref=str(body["link_ogg"]), mime_type="audio/ogg",
                               duration_s=body.get("duration")),)
        if kind == "doc" and body.get("url"):
            return (Attachment(kind="file", media_ref=str(body["url"]), size_bytes=body.get("size"),
                               name=body.get("title")),)
        if kind == "photo" and body.get("sizes"):
            largest = max(body["sizes"], key=lambda s: int(s.get("width", 0)) * int(s.get("height", 0)))
            return (Attachment(kind="image", media_ref=str(largest.get("url") or "")),)
    return ()


def render(message: OutboundMessage) -> str:
    """The reply as this messenger shows it: plain text (`bots.channels.text.plain_text`)."""
    return plain_text(message)


def keyboard(message: OutboundMessage) -> str | None:
    """Quick replies as a one-time keyboard; an agent's reply without them hides the old one."""
    labels = [q[:LABEL_LIMIT] for q in message.quick_replies]
    rows = [[{"action": {"type": "text", "label": label}, "color": "secondary"} for label in
             labels[i : i + BUTTONS_PER_ROW]] for i in range(0, len(labels), BUTTONS_PER_ROW)]
    if not rows and message.author != "agent":
        return None
    return json.dumps({"one_time": True, "buttons": rows[:10]}, ensure_ascii=False)

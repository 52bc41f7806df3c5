"""Telegram rendering: 4096-character parts, escaped HTML, reply keyboards."""

from __future__ import annotations

import html

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bots.channels import text
from bots.messages import OutboundMessage

TELEGRAM_LIMIT = 4096
# Raw text is split below the limit: escaping adds characters to the request,
# not to the message Telegram counts, but sources and markup add a few.
PART_LIMIT = 3900
SHARE_PHONE = "📱 Поделиться номером"


def split_text(message: str, limit: int = PART_LIMIT) -> list[str]:
    """Telegram-sized parts, cut at paragraph, line, sentence, then word."""
    return text.split_text(message, limit)


def render(message: OutboundMessage) -> list[str]:
    """The message as escaped HTML parts; sources go under the last part."""
    parts = [html.escape(p, quote=False) for p in split_text(message.text)]
    if not parts:
        parts = [""]
    if message.sources:
        seen = dict.fromkeys(f"{s.get('source', '')} — {s.get('heading', '')}".strip(" —")
                             for s in message.sources)
        note = "\n\n<i>Источник: " + html.escape("; ".join(seen), quote=False) + "</i>"
        if len(parts[-1]) + len(note) <= TELEGRAM_LIMIT:
            parts[-1] += note
        else:
            parts.append(note.strip())
    if message.author == "manager":
        parts[0] = "<b>Менеджер:</b> " + parts[0]
    return parts


def keyboard(message: OutboundMessage) -> ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """Quick replies as a one-time reply keyboard; a phone request gets a contact button."""
    rows: list[list[KeyboardButton]] = []
    if message.meta.get("request_phone"):
        rows.append([KeyboardButton(text=SHARE_PHONE, request_contact=True)])
    for i in range(0, len(message.quick_replies), 2):
        rows.append([KeyboardButton(text=t) for t in message.quick_replies[i : i + 2]])
    if not rows:
        return ReplyKeyboardRemove() if message.author == "agent" else None
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)

"""Text helpers every adapter shares: a reply as plain text, cut into a messenger's parts."""

from __future__ import annotations

import re

from bots.messages import OutboundMessage


def plain_text(message: OutboundMessage) -> str:
    """A reply in plain text (VK, MAX): the manager named, the sources under the answer."""
    text = message.text.strip()
    if message.author == "manager":
        text = f"Менеджер: {text}"
    if message.sources:
        seen = dict.fromkeys(f"{s.get('source', '')} — {s.get('heading', '')}".strip(" —")
                             for s in message.sources)
        text += "\n\nИсточник: " + "; ".join(seen)
    return text


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut at paragraph, line, sentence, then word."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = _cut_point(text, limit)
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for pattern in (r"\n\s*\n", r"\n", r"[.!?…](?=\s)", r"[;:,](?=\s)", r"\s"):
        found = [m.end() for m in re.finditer(pattern, window)]
        good = [i for i in found if i > limit // 3]
        if good:
            return good[-1]
    return limit

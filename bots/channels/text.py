"""Text helpers every adapter shares: cutting a long reply into a messenger's parts."""

from __future__ import annotations

import re


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

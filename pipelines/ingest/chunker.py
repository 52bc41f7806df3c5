"""Russian sentence-aware chunking.

Chunks are packed from whole sentences (razdel) up to a target size and never
exceed `MAX_CHUNK_CHARS`: an answer built from a chunk must stay readable, and
a chunk that is too large dilutes retrieval. Each chunk carries the heading
path it sits under, which is also indexed with it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from razdel import sentenize

from pipelines.ingest.document import Document

MAX_CHUNK_CHARS = 1000
TARGET_CHUNK_CHARS = 700
_OVERLAP_MAX = 220


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is embedded: text, heading path and a stable id."""

    id: str
    text: str
    headings: tuple[str, ...]
    position: int


def chunk_document(
    doc: Document, source: str, *, target: int = TARGET_CHUNK_CHARS, overlap: bool = True
) -> list[ChunkDraft]:
    """Split a cleaned document into chunks; ids depend only on source and content."""
    drafts: list[ChunkDraft] = []
    seen: dict[str, int] = {}
    for block in doc.blocks:
        headings = block.headings or ((doc.title,) if doc.title else ())
        for text in pack(_sentences(block.paragraphs), target=target, overlap=overlap):
            key = f"{source}\x00{' / '.join(headings)}\x00{text}"
            n = seen[key] = seen.get(key, -1) + 1
            digest = hashlib.sha1(f"{key}\x00{n}".encode()).hexdigest()[:20]
            drafts.append(ChunkDraft(digest, text, headings, len(drafts)))
    return drafts


Sentence = tuple[str, bool]  # text, and whether it opens a paragraph


def pack(sentences: list[Sentence], *, target: int, overlap: bool) -> list[str]:
    """Greedily pack sentences into chunks of about `target` characters.

    With `overlap`, a short last sentence of a chunk also opens the next one,
    so a fact stated across a boundary is whole in at least one chunk.
    Paragraph breaks (list items, table rows) are kept as line breaks.
    """
    chunks: list[str] = []
    current: list[Sentence] = []
    for sentence in sentences:
        if current and _size(current) + 1 + len(sentence[0]) > target:
            chunks.append(_join(current))
            tail = current[-1]
            current = [(tail[0], True)] if overlap and len(tail[0]) <= _OVERLAP_MAX else []
            if current and _size(current) + 1 + len(sentence[0]) > MAX_CHUNK_CHARS:
                current = []
        current.append(sentence)
    if current and (not chunks or _join(current) not in chunks[-1]):
        chunks.append(_join(current))
    return chunks


def _join(sentences: list[Sentence]) -> str:
    parts = [("\n" if new and i else " " if i else "") + text for i, (text, new) in enumerate(sentences)]
    return "".join(parts)


def _sentences(paragraphs: list[str]) -> list[Sentence]:
    out: list[Sentence] = []
    for para in paragraphs:
        first = True
        for s in sentenize(para):
            for piece in _split_long(s.text):
                out.append((piece, first))
                first = False
    return out


def _split_long(sentence: str) -> list[str]:
    """Cut a sentence longer than the chunk limit at clause marks, then at words."""
    if len(sentence) <= MAX_CHUNK_CHARS:
        return [sentence]
    parts = [p for p in re.split(r"(?<=[;:,])\s+", sentence) if p]
    out: list[str] = []
    for part in parts:
        while len(part) > MAX_CHUNK_CHARS:
            cut = part.rfind(" ", 0, MAX_CHUNK_CHARS)
            cut = cut if cut > 0 else MAX_CHUNK_CHARS
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if out and len(out[-1]) + 1 + len(part) <= TARGET_CHUNK_CHARS:
            out[-1] = f"{out[-1]} {part}"
        elif part:
            out.append(part)
    return out


def _size(sentences: list[Sentence]) -> int:
    return sum(len(s) for s, _ in sentences) + max(0, len(sentences) - 1)

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


def pack(sentences: list[str], *, target: int, overlap: bool) -> list[str]:
    """Greedily pack sentences into chunks of about `target` characters.

    With `overlap`, a short last sentence of a chunk also opens the next one,
    so a fact stated across a boundary is whole in at least one chunk.
    """
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and _size(current) + 1 + len(sentence) > target:
            chunks.append(" ".join(current))
            tail = current[-1]
            current = [tail] if overlap and len(tail) <= _OVERLAP_MAX else []
            if current and _size(current) + 1 + len(sentence) > MAX_CHUNK_CHARS:
                current = []
        current.append(sentence)
    if current and (not chunks or " ".join(current) not in chunks[-1]):
        chunks.append(" ".join(current))
    return chunks


def _sentences(paragraphs: list[str]) -> list[str]:
    out: list[str] = []
    for para in paragraphs:
        for s in sentenize(para):
            out.extend(_split_long(s.text))
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


def _size(sentences: list[str]) -> int:
    return sum(len(s) for s in sentences) + max(0, len(sentences) - 1)

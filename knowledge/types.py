"""Values the knowledge index stores and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SearchMode = Literal["hybrid", "bm25", "dense"]


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage of a knowledge file."""

    id: str
    text: str
    source: str
    headings: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    position: int = 0

    @property
    def heading(self) -> str:
        """The heading path as one line, outermost first."""
        return " › ".join(self.headings)

    def indexed_text(self) -> str:
        """What retrieval sees: the heading path, then the passage."""
        return f"{self.heading}\n{self.text}" if self.headings else self.text


@dataclass(frozen=True)
class Hit:
    """A chunk found for a query, with its final score and per-retriever ranks."""

    chunk: Chunk
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    similarity: float | None = None  # cosine of query and chunk, when dense search ran


@dataclass(frozen=True)
class SearchFilter:
    """Limits a search to chunks carrying any of `tags` (a folder name is a tag)."""

    tags: frozenset[str] | None = None

    def allows(self, chunk_tags: tuple[str, ...]) -> bool:
        """Whether a chunk with these tags may be returned."""
        # Untagged chunks are general knowledge (contacts, hours): every role may see them.
        return self.tags is None or not chunk_tags or bool(self.tags.intersection(chunk_tags))

"""The shape every loader produces: a document as headed blocks of text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Block:
    """A run of text under one heading path (outermost heading first)."""

    headings: tuple[str, ...]
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class Document:
    """A loaded source file before cleaning and chunking."""

    title: str
    blocks: list[Block]
    tags: tuple[str, ...] = ()
    # Written for the knowledge base (Markdown, Word) rather than scraped:
    # spam-line heuristics are not applied to it.
    authored: bool = False

    def text(self) -> str:
        """All paragraphs joined, for checks that look at the document as a whole."""
        return "\n".join(p for b in self.blocks for p in b.paragraphs)

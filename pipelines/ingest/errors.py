"""Errors of the ingestion pipeline."""

from __future__ import annotations

from pathlib import Path


class IngestError(Exception):
    """Base of every ingestion failure."""


class UnreadableFile(IngestError):
    """A file that cannot become knowledge: unsupported, empty, binary or broken.

    The run reports it and goes on with the other files.
    """

    def __init__(self, path: Path | None, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

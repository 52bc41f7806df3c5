"""Errors of the knowledge package."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base of every knowledge-index failure."""


class IndexUnavailable(KnowledgeError):
    """The index folder is missing, unreadable or built for another embedder."""


class UnsafeFileName(KnowledgeError, ValueError):
    """A knowledge file name or path that is refused; the message is Russian, for the admin."""

"""Builds the product's long-lived components from settings, once, and hands them down."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from bots.config import Settings
from knowledge.embedder import load_embedder
from knowledge.index import KnowledgeIndex


def knowledge_index(settings: Settings, index_dir: Path | None = None) -> KnowledgeIndex:
    """The knowledge index at `index_dir` (or the configured one); the model loads lazily."""
    emb = settings.embeddings
    factory = partial(load_embedder, emb.model, query_prefix=emb.query_prefix,
                      passage_prefix=emb.passage_prefix)
    folder = index_dir if index_dir is not None else settings.path(settings.knowledge.index_dir)
    return KnowledgeIndex(folder, factory)

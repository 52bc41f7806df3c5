"""Query vectors kept in the index folder between ingests.

Every ingest re-calibrates the index: its pseudo-questions and the shipped
off-topic questions are embedded as queries. Most of them do not change when
an admin edits one file, so their vectors are kept on disk, keyed by text and
by the model that made them; only new texts reach the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embedder import Embedder

log = logging.getLogger(__name__)


class QueryVectorCache:
    """A file of (text, vector) pairs made by one model."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        self.path = path
        self.embedder = embedder

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The query vector of each text, in order; only unseen texts are embedded."""
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        known = self._load()
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self.embedder.embed_queries(missing), strict=True))
            self._save({t: known[t] for t in dict.fromkeys(texts)})  # keep what is used now
        return np.stack([known[t] for t in texts]).astype(np.float32)

    def _load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["model"]) != self.embedder.name:
                    return {}
                vectors = data["vectors"]
                if vectors.ndim != 2 or vectors.shape[1] != self.embedder.dimension:
                    return {}
                return dict(zip((str(t) for t in data["texts"]), vectors, strict=True))
        except (OSError, ValueError, KeyError) as exc:
            if self.path.exists():
                log.warning("query vector cache %s unreadable (%s): embedding again", self.path, exc)
            return {}

    def _save(self, pairs: dict[str, np.ndarray]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, model=np.array(self.embedder.name), texts=np.array(list(pairs)),
                 vectors=np.stack(list(pairs.values())).astype(np.float32))
        tmp.replace(self.path)  # a crash mid-write leaves the old cache, never half a file

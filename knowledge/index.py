"""The knowledge index: chunks in chromadb, BM25 over lemmas, fused search.

One `KnowledgeIndex` per index folder, shared by everything in a process. It
re-reads the folder when another process (an ingest, an admin's edit) has
changed it, so a running bot answers from the new knowledge on the next
message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from knowledge.calibrate import answerability, choose_weights, offtopic_questions, pseudo_questions
from knowledge.embedder import Embedder
from knowledge.fusion import FusionWeights, rrf
from knowledge.lexical import LexicalIndex
from knowledge.manifest import Manifest, SourceEntry, stamp
from knowledge.query_cache import QueryVectorCache
from knowledge.rerank import Reranker
from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.types import Chunk, Hit, SearchFilter, SearchMode
from knowledge.vector import VectorStore

log = logging.getLogger(__name__)

HEADING_WEIGHT = 0.4
CANDIDATES = 40
RERANK_DEPTH = 25
OFFTOPIC_CACHE = "offtopic-queries.npz"
CALIBRATION_CACHE = "calibration-queries.npz"


class _Snapshot:
    """Immutable in-memory view of the index used to answer searches."""

    def __init__(self, chunks: list[Chunk], lemma_strings: list[str], lemmatizer: Lemmatizer):
        self.chunks = chunks
        self.by_id = {c.id: i for i, c in enumerate(chunks)}
        bodies = [s.split() for s in lemma_strings]
        self.body = LexicalIndex(bodies)
        self.heads = LexicalIndex([lemmatizer.lemmas(c.headings[-1]) if c.headings else []
                                   for c in chunks])
        df: dict[str, int] = {}
        for terms in bodies:
            for t in set(terms):
                df[t] = df.get(t, 0) + 1
        self.reranker = Reranker(lemmatizer, df, len(chunks))
        self._lemmatizer = lemmatizer
        self.tags = [c.tags for c in chunks]
        self._masks: dict[frozenset[str] | None, np.ndarray] = {}

    @cached_property
    def heading_words(self) -> frozenset[str]:
        """Lemmas of every heading: the names of the products and topics the bank writes about."""
        return frozenset(lem for c in self.chunks for h in c.headings for lem in self._lemmatizer.lemmas(h))

    def mask(self, flt: SearchFilter) -> np.ndarray:
        """Which chunks a filter allows, computed once per tag set (roles reuse a few)."""
        found = self._masks.get(flt.tags)
        if found is None:
            found = self._masks[flt.tags] = np.fromiter(
                (flt.allows(t) for t in self.tags), dtype=bool, count=len(self.tags))
        return found


class KnowledgeIndex:
    """Search and update one index folder."""

    def __init__(self, folder: Path, embedder: Callable[[], Embedder],
                 lemmatizer: Lemmatizer | None = None) -> None:
        self.folder = folder
        self.lemmatizer = lemmatizer or Lemmatizer()
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self._store: VectorStore | None = None
        self._snapshot: _Snapshot | None = None
        self._stamp = -1
        self._lock = threading.Lock()
        self.manifest = Manifest.load(folder)

    # -- components, created on first use ---------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use: it is the slow part)."""
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def store(self) -> VectorStore:
        """The chromadb collection."""
        if self._store is None:
            self._store = VectorStore(self.folder / "chroma")
        return self._store

    def snapshot(self) -> _Snapshot:
        """The current in-memory view, reloaded when the folder changed."""
        with self._lock:
            current = stamp(self.folder)
            if self._snapshot is None or current != self._stamp:
                self.manifest = Manifest.load(self.folder)
                chunks, lemmas = self.store.load_all() if current else ([], [])
                self._snapshot = _Snapshot(chunks, lemmas, self.lemmatizer)
                self._stamp = current
            return self._snapshot

    # -- search -----------------------------------------------------------

    def search(self, query: str, k: int = 5, mode: SearchMode = "hybrid",
               flt: SearchFilter | None = None) -> list[Hit]:
        """The `k` best chunks for `query`, optionally limited to some tags."""
        flt = flt or SearchFilter()
        snap = self.snapshot()
        if not snap.chunks or not query.strip():
            return []
        rankings: dict[str, list[str]] = {}
        sims: dict[str, float] = {}
        weights = self.manifest.weights
        if mode in ("bm25", "hybrid"):
            rankings["bm25"] = self._lexical_ranking(snap, query, flt)
        # Hybrid asks the dense retriever even at fusion weight 0: its similarity is
        # the meaning-level evidence of whether the knowledge base answers at all.
        if mode in ("dense", "hybrid"):
            sims = dict(self._dense_ranking(query, flt))
            rankings["dense"] = list(sims)
        if mode != "hybrid":
            ids = rankings[mode][:k]
            return [Hit(snap.chunks[snap.by_id[i]], 1.0 / (r + 1), {mode: r + 1}, sims.get(i))
                    for r, i in enumerate(ids) if i in snap.by_id]
        return self._fuse(snap, query, rankings, weights, k, sims)

    def _lexical_ranking(self, snap: _Snapshot, query: str, flt: SearchFilter) -> list[str]:
        scores = snap.body.scores(query, self.lemmatizer)
        scores += HEADING_WEIGHT * snap.heads.scores(query, self.lemmatizer)
        if flt.tags is not None:
            scores *= snap.mask(flt)
        # Select the candidates in O(n), then order just them: the cost stays flat as the index grows.
        count = min(CANDIDATES, len(scores))
        part = np.argpartition(-scores, count - 1)[:count]
        top = part[np.lexsort((part, -scores[part]))]
        return [snap.chunks[i].id for i in top if scores[i] > 0]

    def _dense_ranking(self, query: str, flt: SearchFilter) -> list[tuple[str, float]]:
        if self.model_changed():
            # Vectors of another model: comparing them would rank at random.
            log.warning("index vectors were made by %s, not %s: dense search is off until "
                        "`sovetnik kb ingest` re-embeds", self.manifest.embedder, self.embedder.name)
            return []
        vector = self.embedder.embed_queries([query])[0]
        return self.store.query(vector, CANDIDATES, flt)

    def _fuse(self, snap: _Snapshot, query: str, rankings: dict[str, list[str]],
              weights: FusionWeights, k: int, sims: dict[str, float] | None = None) -> list[Hit]:
        fused = rrf(rankings, {"bm25": weights.bm25, "dense": weights.dense})
        best = sorted(fused.items(), key=lambda x: -x[1])[:RERANK_DEPTH]
        candidates = [(i, snap.chunks[snap.by_id[i]].indexed_text(), s) for i, s in best if i in snap.by_id]
        ranked = snap.reranker.rerank(query, candidates)[:k]
        return [
            Hit(snap.chunks[snap.by_id[i]], s,
                {name: ids.index(i) + 1 for name, ids in rankings.items() if i in ids},
                (sims or {}).get(i))
            for i, s in ranked
        ]

    def reranker(self) -> Reranker:
        """The current re-ranker (word rarities of this index), for answer building."""
        return self.snapshot().reranker

    # -- updates ----------------------------------------------------------

    def apply(self, upserts: Sequence[tuple[str, SourceEntry, list[Chunk]]],
              removals: Sequence[str], embedder_config: str | None,
              reembed_all: bool = False) -> None:
        """Replace the chunks of changed sources and drop removed ones, then save."""
        if reembed_all:
            self._reset_vectors(upserts, removals)
        stale: list[str] = []
        for key in removals:
            entry = self.manifest.sources.pop(key, None)
            if entry:
                stale.extend(entry.chunk_ids)
        for key, entry, chunks in upserts:
            old = set(self.manifest.sources[key].chunk_ids) if key in self.manifest.sources else set()
            new_ids = {c.id for c in chunks}
            stale.extend(old - new_ids)
            # Chunk ids hash their content: an unchanged passage keeps its vector.
            self._write_chunks([c for c in chunks if reembed_all or c.id not in old])
            self.manifest.sources[key] = entry
        if stale:
            self.store.delete(stale)
        # The manifest records the model that really made the vectors and its
        # dimension, beside the setting (`embedder_config`) they were made under.
        self.manifest.embedder = self.embedder.name
        self.manifest.dimension = self.embedder.dimension
        self.manifest.embedder_config = embedder_config or self.manifest.embedder_config
        self.manifest.generation += 1
        self.manifest.save(self.folder)

    def model_changed(self) -> bool:
        """Whether the vectors on disk were made by another model than the one loaded now."""
        recorded = self.manifest.embedder
        if recorded is None or not self.manifest.sources:
            return False
        dim = self.manifest.dimension
        return recorded != self.embedder.name or (dim is not None and dim != self.embedder.dimension)

    def _reset_vectors(self, upserts: Sequence[tuple[str, SourceEntry, list[Chunk]]],
                       removals: Sequence[str]) -> None:
        """Drop every vector and re-embed the chunks of sources this run does not touch."""
        touched = {key for key, _, _ in upserts} | set(removals)
        keep_ids = {cid for key, entry in self.manifest.sources.items() if key not in touched
                    for cid in entry.chunk_ids}
        kept = [c for c in self.snapshot().chunks if c.id in keep_ids]
        self.store.reset()
        self._write_chunks(kept)

    def calibrate(self) -> FusionWeights:
        """Measure the retrievers on pseudo-questions and store the chosen weights."""
        snap = self.snapshot()
        everything = SearchFilter()
        questions = pseudo_questions(snap.chunks)
        # One batch through the model, and only for questions the last ingest did not have.
        texts = [q.text for q in questions]
        cache = QueryVectorCache(self.folder / CALIBRATION_CACHE, self.embedder)
        vectors = dict(zip(texts, cache.vectors(texts), strict=True)) if texts else {}

        def rank(mode: str, query: str) -> list[str]:
            if mode == "bm25":
                return self._lexical_ranking(snap, query, everything)
            return [i for i, _ in self.store.query(vectors[query], CANDIDATES, everything)]

        def fuse(query: str, rankings: dict[str, list[str]], w: FusionWeights) -> list[str]:
            return [h.chunk.id for h in self._fuse(snap, query, rankings, w, 10)]

        chosen = choose_weights(questions, rank, fuse)
        self.manifest.min_similarity, why = self._answerability(everything)
        weights = FusionWeights(chosen.bm25, chosen.dense, f"{chosen.reason}; {why}")
        self.set_weights(weights)
        return weights

    def _answerability(self, everything: SearchFilter) -> tuple[float | None, str]:
        """Calibrate the similarity threshold on off-topic questions against this index."""
        if not self.store.count():
            return answerability([])
        vectors = self._offtopic_vectors()
        best = [hits[0][1] for v in vectors if (hits := self.store.query(v, 1, everything))]
        return answerability(best)

    def _offtopic_vectors(self) -> np.ndarray:
        """The off-topic questions' vectors, embedded once per model and kept in the folder."""
        return QueryVectorCache(self.folder / OFFTOPIC_CACHE, self.embedder).vectors(offtopic_questions())

    def set_weights(self, weights: FusionWeights) -> None:
        """Record calibrated fusion weights in the manifest."""
        self.manifest.weights = weights
        self.manifest.save(self.folder)

    def _write_chunks(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        lemmas = [" ".join(self.lemmatizer.lemmas(c.indexed_text())) for c in chunks]
        vectors = self.embedder.embed_passages([c.indexed_text() for c in chunks])
        self.store.upsert(chunks, lemmas, vectors, [{} for _ in chunks])

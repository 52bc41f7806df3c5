"""Weighted reciprocal-rank fusion of the lexical and dense rankings.

Weights are not guessed: they come from calibration on the knowledge base
itself (see `knowledge.calibrate`), so a weak embedder (the English fallback
on Russian text) gets little or no say, and a strong one gets its share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RRF_K = 60


@dataclass(frozen=True)
class FusionWeights:
    """How much each retriever's ranking counts in hybrid search."""

    bm25: float = 1.0
    dense: float = 0.0
    reason: str = "default: lexical only until calibrated"

    def as_dict(self) -> dict[str, object]:
        """Plain form for the index manifest and reports."""
        return {"bm25": self.bm25, "dense": self.dense, "reason": self.reason}


def rrf(rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float]) -> dict[str, float]:
    """Fused score per id: Σ weight / (RRF_K + rank) over the rankings it appears in."""
    scores: dict[str, float] = {}
    for name, ids in rankings.items():
        w = weights.get(name, 0.0)
        if w <= 0:
            continue
        for rank, chunk_id in enumerate(ids, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + w / (RRF_K + rank)
    return scores

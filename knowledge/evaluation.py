"""Retrieval quality metrics, exactly as the evaluation rules define them.

- normalise: lower-case, «ё» → «е», runs of white space → one space;
- a chunk is relevant when its normalised text contains any normalised
  `expect_any` string and it is at most 1000 characters long;
- hit@k: share of questions with a relevant chunk among the first k;
- MRR@10: mean of 1/rank of the first relevant chunk in the top 10 (0 if none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_RELEVANT_CHARS = 1000


def normalise(text: str) -> str:
    """Lower-case, «ё» → «е», white space folded."""
    return " ".join(text.lower().replace("ё", "е").split())


def carries(text: str, expect_any: Sequence[str]) -> bool:
    """Whether `text` contains any expected fact (the rule for chunks and answers)."""
    norm = normalise(text)
    return any(normalise(e) in norm for e in expect_any)


def first_relevant_rank(texts: Sequence[str], expect_any: Sequence[str]) -> int | None:
    """1-based rank of the first relevant chunk, or None."""
    for rank, text in enumerate(texts, start=1):
        if len(text) <= MAX_RELEVANT_CHARS and carries(text, expect_any):
            return rank
    return None


@dataclass(frozen=True)
class RetrievalScores:
    """hit@1/3/5 and MRR@10 over a question set."""

    questions: int
    hit_at_1: float
    hit_at_3: float
    hit_at_5: float
    mrr_at_10: float

    def as_dict(self) -> dict[str, float | int]:
        """Rounded plain form for JSON output."""
        return {"questions": self.questions, "hit@1": round(self.hit_at_1, 4),
                "hit@3": round(self.hit_at_3, 4), "hit@5": round(self.hit_at_5, 4),
                "mrr@10": round(self.mrr_at_10, 4)}


def score(ranks: Sequence[int | None]) -> RetrievalScores:
    """Aggregate first-relevant ranks into the metrics."""
    n = len(ranks) or 1
    hit = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n  # noqa: E731
    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return RetrievalScores(len(ranks), hit(1), hit(3), hit(5), mrr)

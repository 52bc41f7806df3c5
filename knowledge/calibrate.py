"""Choosing fusion weights by measuring each retriever on the knowledge base itself.

There is no labelled data for a bank's own documents, so pseudo-questions are
made from the documents: a distinctive section heading should find a chunk of
its section; a shortened sentence should find its chunk. Each retriever is
scored by MRR on them, and the dense weight that maximises the hybrid MRR is
kept — zero included, so fusion never scores below lexical search alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from razdel import sentenize

from knowledge.fusion import FusionWeights
from knowledge.types import Chunk

DENSE_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
MAX_QUESTIONS = 120


@dataclass(frozen=True)
class PseudoQuestion:
    """A made-up query and the chunk ids that answer it."""

    text: str
    relevant: frozenset[str]


def pseudo_questions(chunks: Sequence[Chunk], seed: int = 7) -> list[PseudoQuestion]:
    """Heading and sentence queries made from the chunks (deterministic for a seed)."""
    rng = random.Random(seed)
    by_heading: dict[str, set[str]] = {}
    for c in chunks:
        if c.headings:
            by_heading.setdefault(c.headings[-1], set()).add(c.id)
    questions = [PseudoQuestion(h, frozenset(ids)) for h, ids in by_heading.items() if len(ids) <= 4]
    for c in rng.sample(list(chunks), min(len(chunks), MAX_QUESTIONS)):
        sentences = [s.text for s in sentenize(c.text) if len(s.text.split()) >= 8]
        if sentences:
            words = rng.choice(sentences).split()
            start = rng.randrange(0, max(1, len(words) - 7))
            questions.append(PseudoQuestion(" ".join(words[start : start + 7]), frozenset({c.id})))
    rng.shuffle(questions)
    return questions[:MAX_QUESTIONS]


def mrr(ranked: Sequence[str], relevant: frozenset[str]) -> float:
    """Reciprocal rank of the first relevant id in the top 10."""
    for rank, chunk_id in enumerate(ranked[:10], start=1):
        if chunk_id in relevant:
            return 1.0 / rank
    return 0.0


def choose_weights(
    questions: Sequence[PseudoQuestion],
    rank: Callable[[str, str], list[str]],
    fuse: Callable[[str, dict[str, list[str]], FusionWeights], list[str]],
) -> FusionWeights:
    """Score bm25, dense and each fusion weight; keep the best hybrid.

    `rank(mode, query)` gives one retriever's ranking; `fuse(query, rankings,
    weights)` gives the hybrid ranking from precomputed rankings.
    """
    if not questions:
        return FusionWeights(reason="no pseudo-questions: lexical only")
    cached = [(q, {"bm25": rank("bm25", q.text), "dense": rank("dense", q.text)}) for q in questions]
    single: dict[str, float] = {"bm25": 0.0, "dense": 0.0}
    for q, r in cached:
        single["bm25"] += mrr(r["bm25"], q.relevant)
        single["dense"] += mrr(r["dense"], q.relevant)
    best = FusionWeights(1.0, 0.0)
    best_score = -1.0
    for w in DENSE_GRID:
        weights = FusionWeights(1.0, w)
        score = sum(mrr(fuse(q.text, r, weights), q.relevant) for q, r in cached)
        if score > best_score + 1e-9:
            best, best_score = weights, score
    n = len(questions)
    reason = (
        f"calibrated on {n} pseudo-questions: MRR bm25 {single['bm25'] / n:.3f}, "
        f"dense {single['dense'] / n:.3f}, hybrid {best_score / n:.3f} at dense weight {best.dense}"
    )
    return FusionWeights(best.bm25, best.dense, reason)


OFFTOPIC_FILE = Path(__file__).parent / "data" / "offtopic_questions.txt"
# Meaning alone lets through at most this share of off-topic questions; the
# answerer still wants a word of the question in the unit it answers with.
OFFTOPIC_QUANTILE = 0.9


def offtopic_questions() -> list[str]:
    """Questions no bank's knowledge base is about (weather, recipes, sport, ...)."""
    lines = OFFTOPIC_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def answerability(offtopic_best: Sequence[float]) -> tuple[float | None, str]:
    """The similarity a question needs for the knowledge base to be about it.

    `offtopic_best` holds, for each off-topic question, the similarity of its
    nearest chunk in this knowledge base; nine in ten of them fall below the
    threshold.
    """
    if not offtopic_best:
        return None, "no vectors: answerability by lexical coverage only"
    ordered = sorted(offtopic_best)
    threshold = round(ordered[int(OFFTOPIC_QUANTILE * (len(ordered) - 1))], 4)
    median = ordered[len(ordered) // 2]
    return threshold, (f"min similarity {threshold}: the {OFFTOPIC_QUANTILE:.0%} quantile of "
                       f"{len(ordered)} off-topic questions (median {median:.3f}, max {ordered[-1]:.3f})")

"""Search over the demo knowledge base: every mode, synonyms, tag filters, fusion weights."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from knowledge.embedder import Embedder
from knowledge.evaluation import carries
from knowledge.fusion import FusionWeights
from knowledge.types import SearchFilter, SearchMode
from tests.kb.conftest import BuiltIndex, normal

MODES: list[SearchMode] = ["bm25", "dense", "hybrid"]
INSURED_SUM = "Какая сумма вкладов застрахована?"
LIMIT = ["1,4 млн", "1.4 млн", "1 400 000"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_returns_ranked_results(demo_kb: BuiltIndex, mode: SearchMode) -> None:
    hits = demo_kb.index.search(INSURED_SUM, 5, mode)
    assert len(hits) == 5
    assert len({h.chunk.id for h in hits}) == 5
    assert all(h.chunk.text.strip() and h.chunk.source for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len(demo_kb.index.search(INSURED_SUM, 2, mode)) == 2


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_insured_sum_question_finds_the_limit_near_the_top(demo_kb: BuiltIndex, mode: SearchMode) -> None:
    hits = demo_kb.index.search(INSURED_SUM, 3, mode)
    assert any(carries(h.chunk.text, LIMIT) for h in hits), [h.chunk.text[:80] for h in hits]
    assert hits[0].chunk.source.startswith("deposits/")


def test_hybrid_answers_the_insured_sum_at_rank_1(demo_kb: BuiltIndex) -> None:
    top = demo_kb.index.search(INSURED_SUM, 1, "hybrid")[0]
    assert carries(top.chunk.text, LIMIT), top.chunk.text


@pytest.mark.parametrize(("query", "synonym", "word"), [
    ("депозит", "вклад", "депозит"),
    ("ссуда", "кредит", "ссуд"),
])
@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_synonyms_find_passages_without_the_query_word(
    demo_kb: BuiltIndex, query: str, synonym: str, word: str, mode: SearchMode
) -> None:
    hits = demo_kb.index.search(query, 5, mode)
    assert len(hits) >= 3
    via_synonym = [h for h in hits if synonym in normal(h.chunk.text) and word not in normal(h.chunk.text)]
    assert len(via_synonym) >= 2, [h.chunk.text[:80] for h in hits]


@pytest.mark.parametrize("mode", MODES)
def test_tag_filter_returns_only_that_tag_or_untagged(demo_kb: BuiltIndex, mode: SearchMode) -> None:
    unfiltered = demo_kb.index.search(INSURED_SUM, 10, mode)
    assert any("loans" not in h.chunk.tags and h.chunk.tags for h in unfiltered)
    hits = demo_kb.index.search(INSURED_SUM, 10, mode, SearchFilter(frozenset({"loans"})))
    assert hits
    assert all("loans" in h.chunk.tags or not h.chunk.tags for h in hits), [h.chunk.tags for h in hits]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_returns_nothing(demo_kb: BuiltIndex, mode: SearchMode, query: str) -> None:
    assert demo_kb.index.search(query, 5, mode) == []


_REASON = re.compile(r"MRR bm25 (?P<bm25>[0-9.]+), dense (?P<dense>[0-9.]+), hybrid (?P<hybrid>[0-9.]+)")


def _recorded_weights(kb: BuiltIndex) -> FusionWeights:
    raw = json.loads((kb.folder / "manifest.json").read_text(encoding="utf-8"))["weights"]
    recorded = FusionWeights(**raw)
    assert recorded == kb.index.manifest.weights
    assert recorded.reason == kb.report.weights
    return recorded


@pytest.mark.parametrize("kb_name", [
    "demo_kb",
    "seeds_kb",
])
def test_fusion_weights_are_never_worse_than_lexical(kb_name: str, request: pytest.FixtureRequest) -> None:
    kb: BuiltIndex = request.getfixturevalue(kb_name)
    weights = _recorded_weights(kb)
    assert weights.bm25 > 0 and weights.dense >= 0
    found = _REASON.search(weights.reason)
    assert found, weights.reason
    assert float(found["hybrid"]) >= float(found["bm25"]), weights.reason


def test_embedder_reports_its_dimension(embedder: Embedder) -> None:
    vectors = embedder.embed_passages(["Вклад застрахован.", "Кредит выдан."])
    assert vectors.shape[0] == 2
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert embedder.dimension == vectors.shape[1]

"""BM25 over Russian lemmas (bm25s), with synonym-expanded, weighted queries."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np

from knowledge.ru.lemmatizer import Lemmatizer, expand

MAX_DF_SHARE = 0.5
MIN_DOCS_TO_SKIP = 1000  # a small knowledge base is scored exhaustively
PREFIX = 5  # a crude stem: «страхование», «страховой», «страховаться» share «страх»


def index_terms(lemmas: Sequence[str]) -> list[str]:
    """Terms a text is indexed under: its lemmas plus 5-letter lemma prefixes.

    pymorphy3 gives different lemmas to one root in different parts of speech
    («страховой», «страхование»); the prefix term lets them meet.
    """
    terms = list(lemmas)
    terms.extend("~" + lem[:PREFIX] for lem in lemmas if len(lem) > PREFIX and lem.isalpha())
    return terms


class LexicalIndex:
    """An immutable BM25 index over pre-lemmatised documents."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.size = len(documents)
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        if self.size:
            corpus = [index_terms(doc) or ["\x00"] for doc in documents]
            self._bm25.index(corpus, show_progress=False)
            self._vocab = self._bm25.vocab_dict

    def scores(self, query: str, lemmatizer: Lemmatizer, prefix_weight: float = 0.3) -> np.ndarray:
        """BM25 score of every document for `query` (zeros where nothing matches)."""
        total = np.zeros(self.size, dtype=np.float32)
        if not self.size:
            return total
        for lemma, weight in expand(lemmatizer.lemmas(query)).items():
            total += weight * self._term_scores(lemma)
            if len(lemma) > PREFIX and lemma.isalpha():
                total += weight * prefix_weight * self._term_scores("~" + lemma[:PREFIX])
        return total

    def _term_scores(self, term: str) -> np.ndarray | float:
        token = self._vocab.get(term)
        if token is None:
            return 0.0
        indptr = self._bm25.scores["indptr"]
        if indptr[token + 1] - indptr[token] > MAX_DF_SHARE * self.size and self.size >= MIN_DOCS_TO_SKIP:
            # A word in most passages tells them apart by almost nothing (idf < log 2),
            # yet scoring it touches every passage: skipped, search cost stays flat.
            return 0.0
        return np.asarray(self._bm25.get_scores([token]), dtype=np.float32)

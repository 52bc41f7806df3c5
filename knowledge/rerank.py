"""Lexical re-ranking of the fused candidates.

Two features a reader would use to pick the passage that answers:
- the best single sentence covers the question's words (weighted by rarity),
  rather than the words being scattered over the passage;
- the question's multi-word terms («система лимитов кредитования») appear
  as phrases, not as separate words;
- for «что такое X?» the passage that defines X («X — это …»,
  «X представляет собой …») beats passages that merely mention X.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from itertools import pairwise

from knowledge.ru.lemmatizer import SYNONYMS, Lemmatizer
from knowledge.ru.morph import analyzer

_CACHE_LIMIT = 50_000
_STEM = 5  # «страховой» and «страхование» count as the same word here, as in BM25
COVERAGE_WEIGHT = 0.35
PHRASE_WEIGHT = 0.2
DEFINITION_WEIGHT = 0.5
TYPO_SIMILARITY = 0.85  # difflib ratio: one or two letters off in a word of 8+

_DEFINITION_QUERY = re.compile(
    r"^\s*(?:(?:об[ъь]ясните|расскажите|подскажите)\W+(?:простыми\s+словами\W+)?)?"
    r"(?:что\s+(?:такое|означает|значит|называют|за|(?:\w+\s+){0,2}понима\w*\s+под)|каково\s+определение|"
    r"как\s+понимать)\s+(.+?)(?:[,.]?\s*(?:об[ъь]ясните|поясните|простыми|можно\s+попроще).*)?[?.!\s]*$",
    re.IGNORECASE,
)
# «андеррайтинг — это что такое?», «скоринг это что»
_DEFINITION_TAIL = re.compile(r"^\s*(.+?)\s*[—–-]?\s*это\s+что(?:\s+такое)?[?.!\s]*$", re.IGNORECASE)
_DEFINITION_MARK = re.compile(
    r"\s[—–-]\s*это\b|\sпредставляет\s+собой\b|\sназывается\b|\sпонимается\b|\sозначает\b"
    r"|\sявляется\b|\sэто\s|,\s*(?:то\s+есть|т\.\s*е\.)\s",
    re.IGNORECASE,
)


class Reranker:
    """Re-scores candidates by sentence coverage and definitions."""

    def __init__(self, lemmatizer: Lemmatizer, doc_freq: Mapping[str, int], n_docs: int) -> None:
        self._lem = lemmatizer
        self._df = doc_freq
        self._n = max(n_docs, 1)
        # Passages come back query after query: analyse each text once.
        self._cache: dict[str, list[str]] = {}
        self._sentences: dict[str, list[str]] = {}
        self._stems: set[str] | None = None
        self._bonuses: dict[tuple[str, str], float] = {}
        self._vocab: list[str] | None = None

    def _lemmas(self, text: str) -> list[str]:
        cached = self._cache.get(text)
        if cached is None:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[text] = self._lem.lemmas(text)
        return cached

    def _split(self, text: str) -> list[str]:
        cached = self._sentences.get(text)
        if cached is None:
            if len(self._sentences) > _CACHE_LIMIT:
                self._sentences.clear()
            cached = self._sentences[text] = split_sentences(text)
        return cached

    def rerank(self, query: str,
               candidates: Sequence[tuple[str, str, float]]) -> list[tuple[str, float]]:
        """(id, text, base score) → (id, new score), best first; base scores are normalised.

        A text may start with its heading path on the first line: a section
        titled «Показатель долговой нагрузки (ПДН)» then counts as defining ПДН.
        """
        if not candidates:
            return []
        top = max(score for _, _, score in candidates) or 1.0
        q_list = self._lem.lemmas(query)
        q_lemmas = set(q_list)
        q_pairs = set(pairwise(q_list))
        term = self._definition_term(query)
        out = []
        for chunk_id, text, score in candidates:
            key = (query, text)
            bonus = self._bonuses.get(key)
            if bonus is None:
                # Calibration re-ranks the same pairs once per fusion weight: score each once.
                if len(self._bonuses) > _CACHE_LIMIT:
                    self._bonuses.clear()
                bonus = self._bonuses[key] = self._bonus(q_lemmas, q_pairs, term, text)
            out.append((chunk_id, score / top + bonus))
        return sorted(out, key=lambda x: -x[1])

    def _bonus(self, q_lemmas: set[str], q_pairs: set[tuple[str, str]], term: list[str], text: str) -> float:
        sentences = self._split(text)
        bonus = COVERAGE_WEIGHT * self._coverage(q_lemmas, sentences)
        bonus += PHRASE_WEIGHT * self._phrases(q_pairs, text)
        if term and (self._defines(term, sentences) or self._title_defines(term, _title(text))):
            bonus += DEFINITION_WEIGHT
        return bonus

    def unknown_terms(self, query: str) -> list[str]:
        """Nouns of the query that the knowledge base never uses, not even by stem or synonym.

        «автокредит», «кэшбэк», «криптовалюта» in a bank's question mean the
        knowledge base is not about it, however close the rest of the question is.
        """
        return [word for word in self._lem.lemmas(query)
                if word.isalpha() and len(word) >= 3 and _is_noun(word) and not self.knows(word)]

    def knows(self, lemma: str) -> bool:
        """Whether the knowledge base uses the word, its stem, a synonym, or a near spelling."""
        if self._stems is None:
            self._stems = {w[:_STEM] for w in self._df if len(w) >= _STEM}
        if lemma in self._df or (len(lemma) >= _STEM and lemma[:_STEM] in self._stems):
            return True
        return any(syn in self._df for syn in SYNONYMS.get(lemma, ())) or self._misspelt(lemma)

    def _misspelt(self, word: str) -> bool:
        """A typo of a word the knowledge base uses («андерайтинг» for «андеррайтинг»)."""
        if len(word) < 6:
            return False
        if self._vocab is None:
            self._vocab = [w for w in self._df if len(w) >= 5 and w.isalpha()]
        return bool(get_close_matches(word, self._vocab, n=1, cutoff=TYPO_SIMILARITY))

    def _idf(self, lemma: str) -> float:
        df = self._df.get(lemma, 0)
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5))

    def coverage(self, query: str, sentences: Sequence[str]) -> float:
        """How much of the query (weighted by word rarity) the best sentence covers, 0..1."""
        return self._coverage(set(self._lem.lemmas(query)), sentences)

    def defines(self, query: str, sentences: Sequence[str]) -> bool:
        """Whether a «что такое X?» query's X is defined in one of the sentences."""
        term = self._definition_term(query)
        return bool(term) and self._defines(term, sentences)

    def _coverage(self, q_lemmas: set[str], sentences: Sequence[str]) -> float:
        total = sum(self._idf(lem) for lem in q_lemmas)
        if not total:
            return 0.0
        best = 0.0
        for sentence in sentences:
            words = set(self._lemmas(sentence))
            stems = {w[:_STEM] for w in words if len(w) >= _STEM}
            present = [q for q in q_lemmas if _matches(q, words, stems)]
            best = max(best, sum(self._idf(lem) for lem in present) / total)
        return best

    def _phrases(self, q_pairs: set[tuple[str, str]], text: str) -> float:
        """Share of the question's adjacent word pairs that are adjacent in the passage too."""
        if not q_pairs:
            return 0.0
        words = self._lemmas(text)
        return len(q_pairs.intersection(pairwise(words))) / len(q_pairs)

    def _definition_term(self, query: str) -> list[str]:
        m = _DEFINITION_QUERY.match(query) or _DEFINITION_TAIL.match(query)
        return self._lem.lemmas(m.group(1)) if m else []

    def title_defines(self, query: str, title: str) -> bool:
        """Whether a section title names the «что такое X?» term: «X» or «Расшифровка (X)»."""
        term = self._definition_term(query)
        return bool(term) and self._title_defines(term, title)

    def _title_defines(self, term: list[str], title: str) -> bool:
        if not title:
            return False
        bracketed = set(self._lem.lemmas(" ".join(re.findall(r"\(([^)]{1,40})\)", title))))
        plain = self._lem.lemmas(re.sub(r"\([^)]*\)", " ", title))
        return plain == term or (set(term) <= bracketed and len(plain) <= 5)

    def _defines(self, term: list[str], sentences: Sequence[str]) -> bool:
        """A sentence whose part before a definition mark holds every word of the term."""
        for sentence in sentences:
            mark = _DEFINITION_MARK.search(sentence)
            if mark and mark.start() < 160:
                subject = sentence[: mark.start()]
                head = self._lemmas(subject)
                # «Кредитный риск, то есть …» defines; «Одним из видов кредитного
                # риска является …» only mentions: the term must be most of the subject,
                # or be its abbreviation in brackets («Показатель … (ПДН) — это»).
                bracketed = set(self._lem.lemmas(" ".join(re.findall(r"\(([^)]{1,40})\)", subject))))
                short = len(self._lem.lemmas(re.sub(r"\([^)]*\)", " ", subject)))
                if all(t in head for t in term) and (
                    len(head) <= len(term) + 2 or (set(term) <= bracketed and short <= 5)):
                    return True
        return False


_BOUNDARY = re.compile(r"(?<=[.!?…])\s+(?=[«\"(]?[А-ЯЁA-Z0-9])|\s*\n\s*")


def _is_noun(lemma: str) -> bool:
    parses = analyzer().parse(lemma)
    return bool(parses) and parses[0].tag.POS == "NOUN"


def _title(text: str) -> str:
    """The section title, when the text starts with its heading path."""
    head, _, body = text.partition("\n")
    return head.rsplit(" › ", 1)[-1] if body else ""


def _matches(lemma: str, words: set[str], stems: set[str]) -> bool:
    """The query word, its 5-letter stem, or one of its synonyms is in the sentence."""
    if lemma in words or (len(lemma) > _STEM and lemma[:_STEM] in stems):
        return True
    if len(lemma) == _STEM - 1 and lemma.isalpha() and any(w.startswith(lemma) for w in words):
        return True  # «обед» in «обеденный»: a short root has no 5-letter stem
    return any(syn in words for syn in SYNONYMS.get(lemma, ()))


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage, splitting generously at «. Заглавная»."""
    # A plain split at «. Заглавная»: scraped text breaks abbreviations («и т.
    # Банковская»), and an over-split costs less here than a missed boundary.
    return [s for s in _BOUNDARY.split(text) if s]

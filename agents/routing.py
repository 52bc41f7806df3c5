"""Which role should answer a message: the front desk routes, topics can change.

Each role lists keywords for its topic. A message is scored against every
role by lemma matches; the dialog moves to another role only when that role
clearly matches and the current one does not, so a follow-up question with no
topic words («а на какой срок?») stays where it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from knowledge.ru.lemmatizer import Lemmatizer


class Router:
    """Scores messages against the roles' keywords."""

    def __init__(self, lemmatizer: Lemmatizer) -> None:
        self._lem = lemmatizer
        self._cache: dict[tuple[str, ...], list[tuple[str, ...]]] = {}

    def scores(self, text: str, roles: Mapping[str, Sequence[str]]) -> dict[str, int]:
        """Keyword hits per role id (a keyword may be a phrase: all its lemmas must occur)."""
        lemmas = set(self._lem.lemmas(text))
        return {rid: sum(1 for kw in self._phrases(tuple(kws)) if set(kw) <= lemmas)
                for rid, kws in roles.items()}

    def choose(self, text: str, current: str, candidates: Mapping[str, Sequence[str]],
               current_keywords: Sequence[str] = ()) -> str:
        """The role id that should answer `text` (the current one unless another clearly fits)."""
        scores = self.scores(text, candidates)
        best = max(scores, key=lambda rid: (scores[rid], rid == current), default=current)
        if not scores or scores[best] == 0 or best == current:
            return current
        own = self.scores(text, {current: current_keywords})[current] if current_keywords else 0
        return best if scores[best] > own else current

    def _phrases(self, keywords: tuple[str, ...]) -> list[tuple[str, ...]]:
        cached = self._cache.get(keywords)
        if cached is None:
            cached = [tuple(self._lem.lemmas(k)) for k in keywords if self._lem.lemmas(k)]
            self._cache[keywords] = cached
        return cached

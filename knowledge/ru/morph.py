"""Normal forms of Russian words, backed by a lazily created pymorphy3 analyzer."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import pymorphy3

V = TypeVar("V")


@cache
def analyzer() -> pymorphy3.MorphAnalyzer:
    """Return the process-wide morphological analyzer, created on first use."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=8192)
def lemma(word: str) -> str:
    """Return the normal form of ``word`` by its most probable parse («тысяч» → «тысяча»).

    ``word`` is expected lower-cased; a word the analyzer cannot parse comes back as is.
    """
    parses = analyzer().parse(word)
    return parses[0].normal_form if parses else word


def lookup(word: str, table: Mapping[str, V]) -> V | None:
    """Find ``word`` in ``table`` as written, else by its normal form."""
    if word in table:
        return table[word]
    if not word.isalpha():
        return None
    return table.get(lemma(word))

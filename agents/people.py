"""Personal data of other customers never reaches a customer through the model.

The product knows customers' names and phones (the deal store's contacts).
An answer that names another customer or carries a phone that neither the
knowledge base nor this customer wrote is rejected. The directory is a
protocol so that `agents` stays free of the store; the runtime passes one
backed by the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from knowledge.ru.phones import normalize_phone, phone_spans

_WORD = re.compile(r"[a-zа-яё]+", re.IGNORECASE)
_ENDINGS = frozenset({"", "а", "я", "у", "ю", "е", "ы", "и", "ой", "ей", "ом", "ем", "ою", "ею", "й", "ь"})
#: Names shorter than this are too ambiguous to look for.
MIN_NAME = 3


@dataclass(frozen=True)
class PersonalData:
    """Names and E.164 phones the product holds about customers."""

    names: frozenset[str] = field(default_factory=frozenset)
    phones: frozenset[str] = field(default_factory=frozenset)


class PersonalDirectory(Protocol):
    """Where the answerer learns which personal data exists (names and phones of customers)."""

    async def personal_data(self) -> PersonalData:
        """Every known customer's names and phones (may be cached by the implementation)."""
        ...


def foreign_data(answer: str, known: PersonalData, own: Iterable[str],
                 evidence: Iterable[str]) -> tuple[str, ...]:
    """Phones and customer names in `answer` that came from neither `own` texts nor `evidence`.

    `own` is what this customer wrote in this dialog: their own name or phone
    may be repeated back to them. Any phone number not in the evidence or the
    customer's own text counts, stored or not: the bank's numbers are in the
    knowledge base.
    """
    allowed_text = "\n".join([*own, *evidence])
    allowed_phones = _phones(allowed_text)
    found = [p for p in _phones(answer) if p not in allowed_phones]
    allowed_words = set(_words(allowed_text))
    words = set(_words(answer))
    for name in known.names:
        for part in _words(name):
            if len(part) >= MIN_NAME and part not in allowed_words and _mentioned(part, words):
                found.append(part)
    return tuple(dict.fromkeys(found))


def _mentioned(name: str, words: set[str]) -> bool:
    """«анна» in «анне», «анну»: the stem with a short ending."""
    stem = name[:-1] if name[-1] in "аяеоуюиыйь" else name
    return any(w.startswith(stem) and w[len(stem):] in _ENDINGS for w in words)


def _words(text: str) -> list[str]:
    return [w.lower().replace("ё", "е") for w in _WORD.findall(text)]


def _phones(text: str) -> set[str]:
    out = set()
    for start, end in phone_spans(text):
        phone = normalize_phone(text[start:end])
        if phone:
            out.add(phone)
    return out

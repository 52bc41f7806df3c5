"""Splitting Russian customer text into number, word and symbol tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

#: Characters accepted between groups of thousands: space, no-break, thin, narrow no-break.
GROUP_SEPARATORS = " \u00a0\u2009\u202f"

_SEP = f"[{GROUP_SEPARATORS}]"
_NUMBER = (
    r"(?<![0-9.,])(?:"
    r"[0-9]{1,3}(?P<mark>[.,])[0-9]{3}(?:(?P=mark)[0-9]{3})+"  # 1.500.000 or 1,500,000
    rf"|[0-9]{{1,3}}(?:{_SEP}[0-9]{{3}})+(?:[.,][0-9]+)?"  # 2 000 000 or 12 345,67
    r"|[0-9]+(?:[.,][0-9]+)?"  # 2000000 or 1,5
    r")(?![.,]?[0-9])"
)
_TOKEN = re.compile(rf"(?P<num>{_NUMBER})|(?P<word>[a-zа-я]+)|(?P<sym>[$€₽¥%])")
# «500 т.р.», «80тр» mean thousands of roubles.
_THOUSAND_ROUBLES = re.compile(r"(?<=[0-9])\s*т\.?\s*р\.?(?![a-zа-я])")

TokenKind = Literal["num", "word", "sym"]


@dataclass(frozen=True)
class Token:
    """One token; ``start``/``end`` index the normalised text, ``value`` is set for numbers."""

    kind: TokenKind
    text: str
    start: int
    end: int
    value: Decimal | None = None


def normalize(text: str) -> str:
    """Lower-case ``text``, fold «ё» into «е» and spell out the «т.р.» abbreviation."""
    text = text.lower().replace("ё", "е")
    return _THOUSAND_ROUBLES.sub(" тыс руб", text)


def number_value(raw: str) -> Decimal:
    """Read a written number: «2 000 000», «1,5», «1.500.000», «12 345,67»."""
    digits = re.sub(_SEP, "", raw)
    if re.fullmatch(r"[0-9]{1,3}([.,])[0-9]{3}(\1[0-9]{3})+", digits):
        return Decimal(re.sub(r"[.,]", "", digits))
    return Decimal(digits.replace(",", "."))


def tokenize(text: str) -> list[Token]:
    """Split already normalised ``text`` into tokens; punctuation other than symbols is dropped."""
    tokens = []
    for match in _TOKEN.finditer(text):
        kind: TokenKind = "num" if match["num"] else "word" if match["word"] else "sym"
        value = number_value(match[0]) if kind == "num" else None
        tokens.append(Token(kind, match[0], match.start(), match.end(), value))
    return tokens

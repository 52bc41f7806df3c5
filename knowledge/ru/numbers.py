"""Russian numbers written in digits, in words or mixed: «1,5 млн», «сто двадцать тысяч».

A number phrase is read left to right the usual way: small number words add up inside a
group («сто» + «двадцать»), a multiplier word closes the group and scales it («тысяч»), and
groups with decreasing multipliers add up («2 миллиона 500 тысяч»).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from knowledge.ru.morph import lookup
from knowledge.ru.tokens import Token

V = TypeVar("V")

#: Number words by normal form.
NUMBER_WORDS: dict[str, int] = {
    "ноль": 0, "нуль": 0, "один": 1, "два": 2, "три": 3, "четыре": 4, "пять": 5,
    "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "одиннадцать": 11,
    "двенадцать": 12, "тринадцать": 13, "четырнадцать": 14, "пятнадцать": 15,
    "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18, "девятнадцать": 19,
    "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60,
    "семьдесят": 70, "восемьдесят": 80, "девяносто": 90, "сто": 100, "двести": 200,
    "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600, "семьсот": 700,
    "восемьсот": 800, "девятьсот": 900,
}  # fmt: skip

#: Words that stand for a whole group on their own.
FRACTION_WORDS: dict[str, Decimal] = {"полтора": Decimal("1.5")}

#: Multiplier words, abbreviations and slang by normal form.
MULTIPLIERS: dict[str, int] = {
    "тысяча": 10**3, "тыс": 10**3, "тыщ": 10**3,
    "миллион": 10**6, "млн": 10**6, "лям": 10**6,
    "миллиард": 10**9, "млрд": 10**9,
}  # fmt: skip

#: Multipliers that count only when glued to digits: «10к», «2кк».
ATTACHED_MULTIPLIERS: dict[str, int] = {"к": 10**3, "k": 10**3, "кк": 10**6, "kk": 10**6}

HALF = Decimal("0.5")
_HALF_PREFIXES = ("полу", "пол")


def lookup_halved(word: str, table: Mapping[str, V]) -> tuple[Decimal, V] | None:
    """Look ``word`` up in ``table``; «пол»/«полу» + entry gives a half of it.

    Returns ``(factor, entry)``: «года» → (1, год), «полгода» → (0.5, год),
    «полмиллиона» → (0.5, миллион).
    """
    found = lookup(word, table)
    if found is not None:
        return Decimal(1), found
    for prefix in _HALF_PREFIXES:
        rest = word.removeprefix(prefix)
        if rest != word and len(rest) > 1 and (found := lookup(rest, table)) is not None:
            return HALF, found
    return None


@dataclass(frozen=True)
class NumberPhrase:
    """A number read from tokens ``start``..``end`` (end exclusive)."""

    value: Decimal
    start: int
    end: int
    scaled: bool  # a multiplier such as «тыс.» or «млн» was applied
    digits_only: bool  # one token written in digits, nothing else


def _word_slots(value: int) -> tuple[int, int]:
    """Return (highest, lowest) decimal slot a number word fills: 20 → (2, 2), 15 → (2, 1)."""
    if value >= 100:
        return 3, 3
    if value >= 20:
        return 2, 2
    return (2, 1) if value >= 10 else (1, 1)


class _Reader:
    """State of reading one number phrase; each ``take_*`` returns False to stop."""

    def __init__(self, tokens: Sequence[Token], start: int) -> None:
        self.tokens, self.start, self.pos = tokens, start, start
        self.total = Decimal(0)
        self.group: Decimal | None = None  # the group not yet closed by a multiplier
        self.free_slot = 4  # number words must fill slots below this one
        self.last_multiplier = 10**12
        self.scaled = False

    def step(self) -> bool:
        token = self.tokens[self.pos]
        if token.kind == "num" and token.value is not None:
            # After «500 тыс» digits join only before a multiplier: «1 млн 200 тыс»,
            # but not «500 тыс 12 мес».
            if self.scaled and not self._multiplier_follows():
                return False
            return self._take_group(token.value, free_slot=0)
        return token.kind == "word" and self._take_word(token)

    def _multiplier_follows(self) -> bool:
        following = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        return following is not None and lookup(following.text, MULTIPLIERS) is not None

    def _take_word(self, token: Token) -> bool:
        word = token.text
        if (value := lookup(word, NUMBER_WORDS)) is not None:
            return self._take_number_word(value)
        if (fraction := lookup(word, FRACTION_WORDS)) is not None:
            return not self.scaled and self._take_group(fraction, free_slot=0)
        if self._is_attached(token) and word in ATTACHED_MULTIPLIERS:
            return self._take_multiplier(Decimal(1), ATTACHED_MULTIPLIERS[word])
        if (halved := lookup_halved(word, MULTIPLIERS)) is not None:
            return self._take_multiplier(*halved)
        return self._take_half_more(word)

    def _is_attached(self, token: Token) -> bool:
        previous = self.tokens[self.pos - 1] if self.pos > self.start else None
        return previous is not None and previous.kind == "num" and previous.end == token.start

    def _take_group(self, value: Decimal, free_slot: int) -> bool:
        if self.group is not None:
            return False
        self.group, self.free_slot = value, free_slot
        return True

    def _take_number_word(self, value: int) -> bool:
        high, low = _word_slots(value)
        if self.group is not None and high >= self.free_slot:
            return False
        self.group = (self.group or Decimal(0)) + value
        self.free_slot = low
        return True

    def _take_multiplier(self, factor: Decimal, multiplier: int) -> bool:
        if multiplier >= self.last_multiplier or (factor != 1 and self.group is not None):
            return False
        if self.group is None and self.total:
            return False
        base = self.group if self.group is not None else Decimal(1)
        self.total += base * factor * multiplier
        self.group, self.free_slot = None, 4
        self.last_multiplier, self.scaled = multiplier, True
        return True

    def _take_half_more(self, word: str) -> bool:
        """Read «с половиной» after a group: «два с половиной» → 2.5."""
        after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if word != "с" or self.group is None or after is None or after.text != "половиной":
            return False
        self.group += HALF
        self.free_slot = 0
        self.pos += 1
        return True

    def phrase(self) -> NumberPhrase | None:
        if self.pos == self.start:
            return None
        value = self.total + (self.group if self.group is not None else 0)
        single = self.pos - self.start == 1 and self.tokens[self.start].kind == "num"
        return NumberPhrase(tidy(value), self.start, self.pos, self.scaled, single)


def read_number(tokens: Sequence[Token], start: int) -> NumberPhrase | None:
    """Read the longest number phrase beginning at ``tokens[start]``, or None."""
    reader = _Reader(tokens, start)
    while reader.pos < len(tokens) and reader.step():
        reader.pos += 1
    return reader.phrase()


def number_phrases(tokens: Sequence[Token]) -> list[NumberPhrase]:
    """Return all non-overlapping number phrases in ``tokens``, left to right."""
    phrases, index = [], 0
    while index < len(tokens):
        phrase = read_number(tokens, index)
        if phrase is None:
            index += 1
            continue
        phrases.append(phrase)
        index = phrase.end
    return phrases


def tidy(value: Decimal) -> Decimal:
    """Drop a meaningless fractional part: 1500000.0 → 1500000, 16.50 → 16.5."""
    whole = value.to_integral_value()
    return whole if value == whole else value.normalize()

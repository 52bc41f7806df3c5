"""Quantities in Russian customer text: sums of money, interest rates and terms.

«вклад 500 тыс на год под 16%» reads as the amount 500 000 ₽ (``find_amounts``), the term of
12 months (``parse_term``) and the rate of 16 % (``parse_rate``). A number followed by «%»,
«процентов» or «годовых» is a rate, one followed by «мес.», «года», «дней» is a term; neither
is ever read as an amount. Every reader returns None (or an empty list) on text it cannot
read and never raises.

Money, phones and formatting live in sibling modules and are re-exported here, so that
callers need a single import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from knowledge.ru.money import CURRENCY_PREFIXES, CURRENCY_WORDS, Money, format_money
from knowledge.ru.morph import lemma, lookup
from knowledge.ru.numbers import NumberPhrase, lookup_halved, number_phrases, read_number
from knowledge.ru.phones import find_phone, normalize_phone, phone_spans
from knowledge.ru.tokens import Token, normalize, tokenize

__all__ = [
    "Money",
    "Term",
    "find_amounts",
    "find_phone",
    "format_money",
    "glue_halves",
    "normalize_phone",
    "parse_amount",
    "parse_rate",
    "parse_term",
]

#: Days in a month, used only where days and months must be converted into each other.
DAYS_PER_MONTH = 30
#: Days in a year of twelve months, used by ``Term.in_days``.
DAYS_PER_YEAR = 365

#: Term units by normal form: (months, days) in one unit.
TERM_UNITS: dict[str, tuple[int, int]] = {
    "год": (12, 0), "годик": (12, 0), "лет": (12, 0),
    "квартал": (3, 0),
    "месяц": (1, 0), "мес": (1, 0),
    "неделя": (0, 7), "нед": (0, 7),
    "день": (0, 1), "дн": (0, 1), "сутки": (0, 1),
}  # fmt: skip

#: Words after a number that make it a rate.
RATE_UNITS: frozenset[str] = frozenset({"%", "процент", "проц", "годовой"})
#: Words before a bare number that make it a rate: «под 16», «ставка 12».
RATE_CUES: frozenset[str] = frozenset({"под", "ставка"})
#: Words before a bare term unit that make it a term: «на год», «сроком на месяц».
TERM_CUES: frozenset[str] = frozenset({"на", "срок", "сроком"})
#: Counted things that are not money: «10 000 баллов», «5000 км».
NOT_MONEY: frozenset[str] = frozenset(
    {"балл", "бонус", "миля", "км", "шт", "штука", "человек", "раз", "час", "минута"}
)
#: A bare number (no currency, no «тыс.») counts as an amount from this value up.
BARE_AMOUNT_MIN = Decimal(1000)
_MAX_TERM_DAYS = 100 * DAYS_PER_YEAR


@dataclass(frozen=True)
class Term:
    """A term as said: whole ``months`` (years are 12 months) and ``days`` (weeks are 7 days).

    A part that was not said is None: «на год» → Term(12, None), «на 90 дней» →
    Term(None, 90), «2 года и 10 дней» → Term(24, 10).
    """

    months: int | None = None
    days: int | None = None

    def in_months(self) -> int:
        """The term in whole months; days count as 30 a month, rounded half up (45 days → 2)."""
        extra = Decimal(self.days or 0) / DAYS_PER_MONTH
        return (self.months or 0) + int(extra.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def in_days(self) -> int:
        """The term in days: 365 for every full 12 months, 30 for each other month."""
        years, months = divmod(self.months or 0, 12)
        return years * DAYS_PER_YEAR + months * DAYS_PER_MONTH + (self.days or 0)


def _prepare(text: object) -> list[Token]:
    """Tokenize ``text``; anything that is not a string gives no tokens."""
    return tokenize(glue_halves(normalize(text))) if isinstance(text, str) else []


# «пол миллиона», «пол-года»: customers often split the half prefix off the word it halves.
_SPLIT_HALF = re.compile(r"\b(пол)(?:\s+|-)(?=(?:милл|млн|млрд|лям|тыс|тыщ|год|года|месяц|дн)\w*)",
                         re.IGNORECASE)


def glue_halves(text: str) -> str:
    """«пол миллиона» → «полмиллиона», «пол-года» → «полгода»; other text unchanged."""
    return _SPLIT_HALF.sub(r"\1", text)


def _at(tokens: Sequence[Token], index: int) -> Token | None:
    return tokens[index] if 0 <= index < len(tokens) else None


def _word_in(token: Token | None, words: frozenset[str]) -> bool:
    """Whether ``token`` is one of ``words`` as written or by its normal form."""
    if token is None:
        return False
    return token.text in words or (token.text.isalpha() and lemma(token.text) in words)


def _is_term_unit(token: Token | None) -> bool:
    return token is not None and lookup_halved(token.text, TERM_UNITS) is not None


# --- amounts -----------------------------------------------------------------------------


def _currency(token: Token | None, table: dict[str, str]) -> str | None:
    return lookup(token.text, table) if token is not None else None


def _is_bare_amount(
    phrase: NumberPhrase, tokens: Sequence[Token], phones: Sequence[tuple[int, int]]
) -> bool:
    """A bare number is an amount when it is large enough and not part of a phone."""
    start, end = tokens[phrase.start].start, tokens[phrase.end - 1].end
    inside_phone = any(left < end and start < right for left, right in phones)
    return phrase.digits_only and phrase.value >= BARE_AMOUNT_MIN and not inside_phone


def _amount(
    phrase: NumberPhrase, tokens: Sequence[Token], phones: Sequence[tuple[int, int]]
) -> Money | None:
    """Read ``phrase`` as a sum of money when its neighbours allow it."""
    after = _at(tokens, phrase.end)
    if phrase.value <= 0 or _word_in(after, RATE_UNITS) or _is_term_unit(after):
        return None
    before = _at(tokens, phrase.start - 1)
    currency = _currency(after, CURRENCY_WORDS) or _currency(before, CURRENCY_PREFIXES)
    if currency is None and _word_in(after, NOT_MONEY):
        return None
    if currency or phrase.scaled or _is_bare_amount(phrase, tokens, phones):
        return Money(phrase.value, currency or "RUB")
    return None


def find_amounts(text: str) -> list[Money]:
    """Return every sum of money in ``text``, in order of appearance.

    A number is a sum when it has a currency («1000 долларов», «$1000», «300 000 р.»),
    a multiplier («500 тыс», «полтора миллиона», «10к») or, bare, is at least 1000 and not
    part of a phone. Rates («под 16%») and terms («на 3 года», «18 мес») are skipped.
    """
    tokens = _prepare(text)
    phones = phone_spans(normalize(text)) if tokens else []
    amounts = (_amount(phrase, tokens, phones) for phrase in number_phrases(tokens))
    return [amount for amount in amounts if amount is not None]


def parse_amount(text: str) -> Money | None:
    """Return the first sum of money in ``text`` (see ``find_amounts``), or None.

    A text that is nothing but a number («18», «двадцать») is read as roubles too,
    since the caller asked for a sum.
    """
    amounts = find_amounts(text)
    if amounts:
        return amounts[0]
    tokens = _prepare(text)
    phrase = read_number(tokens, 0) if tokens else None
    if phrase is None or phrase.end != len(tokens) or phrase.value <= 0:
        return None
    return Money(phrase.value, "RUB")


# --- rates -------------------------------------------------------------------------------


def _rate(phrase: NumberPhrase, tokens: Sequence[Token]) -> Decimal | None:
    """Read ``phrase`` as a rate: «16 %», «16,5 процентов», «12 годовых», «под 16»."""
    if phrase.scaled or not 0 <= phrase.value <= 100:
        return None
    after = _at(tokens, phrase.end)
    if _word_in(after, RATE_UNITS):
        return phrase.value
    cued = _word_in(_at(tokens, phrase.start - 1), RATE_CUES)
    if cued and (after is None or not _is_unit(after)):
        return phrase.value
    return None


def _is_unit(token: Token) -> bool:
    """Whether ``token`` names what a number counts: money, time or things."""
    return (
        _is_term_unit(token)
        or lookup(token.text, CURRENCY_WORDS) is not None
        or _word_in(token, NOT_MONEY)
    )


def parse_rate(text: str) -> Decimal | None:
    """Return the annual rate in percent said in ``text``, or None.

    «под 16%» → 16, «16,5 %» → 16.5, «ставка 12 годовых» → 12,
    «под шестнадцать процентов» → 16. Values above 100 are not read as rates.
    """
    tokens = _prepare(text)
    for phrase in number_phrases(tokens):
        if (rate := _rate(phrase, tokens)) is not None:
            return rate
    return None


# --- terms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TermPart:
    """One «number + unit» piece of a term, in months and days, and where it ends."""

    months: Decimal
    days: Decimal
    end: int
    unit_days: int  # the size of the unit, to keep compound terms decreasing


def _term_part(tokens: Sequence[Token], index: int, bare_ok: bool) -> _TermPart | None:
    """Read «3 года», «полтора года», «18 мес» or, when ``bare_ok``, «год» at ``index``."""
    phrase = read_number(tokens, index)
    if phrase is not None and not phrase.scaled:
        count, unit_index = phrase.value, phrase.end
    elif bare_ok:
        count, unit_index = Decimal(1), index
    else:
        return None
    unit = _at(tokens, unit_index)
    found = lookup_halved(unit.text, TERM_UNITS) if unit is not None else None
    if found is None:
        return None
    factor, (months, days) = found
    count *= factor
    return _TermPart(count * months, count * days, unit_index + 1, months * 30 + days)


def _read_term(tokens: Sequence[Token], index: int) -> tuple[Decimal, Decimal] | None:
    """Read a term, possibly compound («2 года и 6 месяцев»), starting at ``index``."""
    bare_ok = index == 0 or _word_in(_at(tokens, index - 1), TERM_CUES)
    part = _term_part(tokens, index, bare_ok)
    if part is None:
        return None
    months, days = part.months, part.days
    while True:
        joiner = _at(tokens, part.end)
        following = part.end + 1 if joiner is not None and joiner.text == "и" else part.end
        more = _term_part(tokens, following, bare_ok=False)
        if more is None or more.unit_days >= part.unit_days:
            return months, days
        months, days, part = months + more.months, days + more.days, more


def _make_term(months: Decimal, days: Decimal) -> Term | None:
    """Normalise to whole months and days; a fraction of a month becomes 30-day days."""
    whole = int(months)
    total_days = days + (months - whole) * DAYS_PER_MONTH
    day_count = int(total_days.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    term = Term(whole or None, day_count or None)
    if term == Term() or term.in_days() > _MAX_TERM_DAYS:
        return None
    return term


def parse_term(text: str) -> Term | None:
    """Return the first term said in ``text``, or None.

    «на год» → 12 months, «18 мес» → 18 months, «полтора года» → 18 months,
    «на 90 дней» → 90 days, «на 2 года и 6 месяцев» → 30 months. A unit without a number
    counts only at the start or after «на»/«сроком» («платёж в месяц» is not a term);
    terms over 100 years («в 2024 году») are ignored.
    """
    tokens = _prepare(text)
    for index in range(len(tokens)):
        found = _read_term(tokens, index)
        if found is not None and (term := _make_term(*found)) is not None:
            return term
    return None

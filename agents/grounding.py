"""Grounding: every figure, date and product name in an answer must come from evidence.

Evidence is what the bank's side produced this turn: retrieved knowledge
passages and tool results, never the customer's own message (a customer who
writes «50 % годовых по вкладу «Вершина Супер»» must not see it confirmed).
Figures are compared by value however they are written: «1,4 млн»,
«1 400 000», «1.4 млн» and «один миллион четыреста тысяч» are one figure;
«16 %» matches «16%» and «шестнадцать процентов». Dates (01.12.2026,
«1 декабря 2026») must appear in the evidence too. Product names — anything in
«…» and «Вершина X» without quotes — must appear in the evidence or among the
bank's own names (`known_names`, e.g. from the role's description). What
cannot be traced is reported, so the answer can be regenerated or replaced by
an honest «no exact information».
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from knowledge.ru.numbers import number_phrases
from knowledge.ru.phones import phone_spans
from knowledge.ru.tokens import Token, normalize, tokenize

_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+|\d+)(?:[.,](\d+))?"
    r"(?:\s*(тыс\w*|млн\w*|миллион\w*|млрд\w*|миллиард\w*))?",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
_QUOTED = re.compile(r"[«\"„“]([^»\"“”]{2,60})[»\"“”]")
_BRAND = re.compile(r"\bВершин[аеыуой]{0,2}\s+([А-ЯЁA-Z][\w-]+)")
_MULTIPLIERS = {"тыс": 1000, "млн": 1_000_000, "мил": 1_000_000, "млр": 1_000_000_000}
_MONTHS = ("январ", "феврал", "март", "апрел", "ма", "июн", "июл", "август", "сентябр",
           "октябр", "ноябр", "декабр")
_NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?![.,]?\d)")
_WORD_DATE = re.compile(r"(?<!\d)(\d{1,2})\s+(" + "|".join(_MONTHS) + r")[а-я]*\.?(?:\s+(\d{4}))?",
                        re.IGNORECASE)
#: A number in words counts as a figure when it is large, scaled or followed by one of these.
_UNIT_WORDS = ("%", "процент", "рубл", "руб", "₽", "годов", "месяц", "мес", "год", "лет", "дн",
               "тысяч", "миллион", "доллар", "евро", "юан")


@dataclass(frozen=True)
class GroundingReport:
    """What in an answer could not be traced to the evidence."""

    numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()

    @property
    def grounded(self) -> bool:
        """True when everything was traced."""
        return not self.numbers and not self.names and not self.dates

    @property
    def items(self) -> tuple[str, ...]:
        """Everything untraced, for a log line or a note."""
        return (*self.numbers, *self.names, *self.dates)


def check(answer: str, evidence: Iterable[str], known_names: Iterable[str] = ()) -> GroundingReport:
    """Find the figures, dates and product names of `answer` that no evidence text contains."""
    corpus = "\n".join(evidence)
    # Phones are not figures: whose they are is the personal-data check's business.
    for start, end in reversed(phone_spans(answer)):
        answer = answer[:start] + " " + answer[end:]
    dates, body = _untraced_dates(answer, corpus)
    known = _values(corpus) | _word_values(corpus)
    body = _LIST_MARK.sub(" ", body)
    numbers = [m.group(0).strip() for m in _NUMBER.finditer(body) if not _value_set(m) & known]
    numbers += [text for text, value in _word_figures(body) if value not in known]
    return GroundingReport(tuple(numbers), _untraced_names(answer, corpus, known_names), dates)


def _untraced_names(answer: str, corpus: str, known_names: Iterable[str]) -> tuple[str, ...]:
    plain = _norm(corpus + "\n" + "\n".join(known_names))
    names = [n for n in _QUOTED.findall(answer) if _norm(n) not in plain]
    names += [f"Вершина {w}" for w in _BRAND.findall(answer)
              if _norm(f"вершина {w}")[:-1] not in plain and w not in names]
    return tuple(dict.fromkeys(names))


def _untraced_dates(answer: str, corpus: str) -> tuple[tuple[str, ...], str]:
    """Dates of `answer` absent from the corpus, and the answer with every date blanked out."""
    known = _dates(corpus)
    missing = []
    for pattern in (_NUMERIC_DATE, _WORD_DATE):
        for m in pattern.finditer(answer):
            if _date_key(m) not in known:
                missing.append(m.group(0))
        answer = pattern.sub(" ", answer)
    return tuple(missing), answer


def _dates(text: str) -> set[tuple[int, int, int | None]]:
    out: set[tuple[int, int, int | None]] = set()
    for pattern in (_NUMERIC_DATE, _WORD_DATE):
        for m in pattern.finditer(text):
            day, month, year = _date_key(m)
            out |= {(day, month, year), (day, month, None)}
    return out


def _date_key(m: re.Match[str]) -> tuple[int, int, int | None]:
    day, month, year = m.group(1), m.group(2), m.group(3)
    if month.isdigit():
        number = int(month)
    else:
        number = next(i for i, stem in enumerate(_MONTHS, 1) if month.lower().startswith(stem))
    full = int(year) + (2000 if year and len(year) == 2 else 0) if year else None
    return int(day), number, full


def _word_figures(text: str) -> list[tuple[str, Decimal]]:
    """Figures written (partly) in words: «пятьдесят процентов», «полтора миллиона»."""
    norm = normalize(text)
    tokens = tokenize(norm)
    out = []
    for phrase in number_phrases(tokens):
        if phrase.digits_only or all(t.kind == "num" for t in tokens[phrase.start:phrase.end]):
            continue
        if phrase.scaled and tokens[phrase.start].kind == "num":
            continue  # «1,4 млн»: checked with the digits
        if phrase.value >= 10 or phrase.scaled or _unit_follows(tokens, phrase.end):
            span = norm[tokens[phrase.start].start:tokens[phrase.end - 1].end]
            out.append((span, phrase.value))
    return out


def _unit_follows(tokens: list[Token], end: int) -> bool:
    return end < len(tokens) and tokens[end].text.startswith(_UNIT_WORDS)


def _word_values(text: str) -> set[Decimal]:
    return {p.value.normalize() for p in number_phrases(tokenize(normalize(text)))}


def _values(text: str) -> set[Decimal]:
    out: set[Decimal] = set()
    for m in _NUMBER.finditer(text):
        out |= _value_set(m)
    return out


def _value_set(m: re.Match[str]) -> set[Decimal]:
    """The number as written and with its multiplier applied («1,4 млн» → 1.4 and 1400000)."""
    whole, frac, unit = m.group(1), m.group(2), m.group(3)
    try:
        base = Decimal(re.sub(r"\D", "", whole) + (f".{frac}" if frac else ""))
    except InvalidOperation:
        return set()
    values = {base.normalize()}
    if unit:
        values.add((base * _MULTIPLIERS.get(unit[:3].lower(), 1)).normalize())
    return values


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())

"""Grounding: every figure and product name in an answer must come from evidence.

Evidence is what the agent saw this turn: retrieved passages and tool
results. «1,4 млн», «1 400 000» and «1.4 млн» are the same figure; a rate of
«16 %» matches «16%». A quoted product name («Вершина Доходный») must appear in
the evidence too. What cannot be traced is reported, so the answer can be
regenerated or replaced by an honest «no exact information».
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+|\d+)(?:[.,](\d+))?"
    r"(?:\s*(тыс\w*|млн\w*|миллион\w*|млрд\w*|миллиард\w*))?",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
_QUOTED = re.compile(r"«([^»]{2,60})»")
_MULTIPLIERS = {"тыс": 1000, "млн": 1_000_000, "мил": 1_000_000, "млр": 1_000_000_000}


@dataclass(frozen=True)
class GroundingReport:
    """What in an answer could not be traced to the evidence."""

    numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def grounded(self) -> bool:
        """True when everything was traced."""
        return not self.numbers and not self.names


def check(answer: str, evidence: Iterable[str]) -> GroundingReport:
    """Find the figures and quoted names of `answer` that no evidence text contains."""
    corpus = "\n".join(evidence)
    known = _values(corpus)
    plain = _norm(corpus)
    body = _LIST_MARK.sub(" ", answer)
    numbers = tuple(m.group(0).strip() for m in _NUMBER.finditer(body)
                    if not _value_set(m) & known)
    names = tuple(n for n in _QUOTED.findall(answer) if _norm(n) not in plain)
    return GroundingReport(numbers, names)


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

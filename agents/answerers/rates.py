"""The bank's own rate for a calculation the customer gave no rate for.

«нужен кредит 500к на 3 года, какой платёж?» is computed at the rate the
knowledge base states for that product and term — a table row for the term,
or a «Ставка: от 19,9 % годовых» line — and the reply says which rate it
used and where it comes from. For loans the full cost of credit (ПСК) range
is added when the knowledge base states one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from agents.answerers.compose import units_of
from knowledge.index import KnowledgeIndex
from knowledge.ru.quantities import parse_term
from knowledge.types import SearchFilter

_PERCENT = re.compile(r"(\d+(?:,\d+)?)\s?%")
_RATE_ITEM = re.compile(r"ставк\w*[^.\n]{0,40}?(\d+(?:,\d+)?)\s?%", re.IGNORECASE)
_PSK = re.compile(r"ПСК[^.\n]{0,80}?(\d+(?:,\d+)?\s?%[^.\n]{0,40}?\d+(?:,\d+)?\s?%|\d+(?:,\d+)?\s?%)",
                  re.IGNORECASE)
_QUOTED = re.compile(r"«([^»]{2,60})»")


@dataclass(frozen=True)
class KnownRate:
    """A rate read from the knowledge base, with what it is the rate of."""

    rate: Decimal
    product: str
    condition: str
    psk: str | None = None

    def explain(self) -> str:
        """«Расчёт по ставке 19,9 % годовых («Вершина Наличные»: от 19,9 % годовых)…»."""
        rate = f"{self.rate}".replace(".", ",")
        text = (f"Расчёт по ставке {rate} % годовых — {self.condition} ({self.product}). "
                "Результат примерный: точные условия банк назовёт после рассмотрения заявки.")
        if self.psk:
            text += f" Полная стоимость кредита (ПСК): {self.psk}."
        return text


def find_rate(index: KnowledgeIndex, text: str, kind: str, flt: SearchFilter) -> KnownRate | None:
    """The knowledge base's rate for the product and term a calculation request is about."""
    word = "кредит" if kind == "loan" else "вклад"
    mortgage = "ипотек" in text.lower()
    term = parse_term(text)
    months = int(term.in_months()) if term is not None and term.months else None
    for hit in index.search(f"{text} ставка {word}", k=8, flt=flt):
        # A consumer loan is not priced at the mortgage rate, nor the other way round.
        if kind == "loan" and mortgage != ("ипотек" in hit.chunk.heading.lower()):
            continue
        product = _product(hit.chunk.headings)
        for unit in units_of(hit, 0):
            found = _from_rows(unit.parts, months) if unit.kind == "table" else _from_items(unit.parts)
            if found is not None:
                rate, condition = found
                return KnownRate(rate, product, condition, _psk(hit.chunk.text))
    return None


def _from_rows(rows: tuple[str, ...], months: int | None) -> tuple[Decimal, str] | None:
    if months is None:
        return None
    for row in rows:
        term = parse_term(row.split(";", 1)[0])
        values = _PERCENT.findall(row)
        if term is not None and term.months and int(term.in_months()) == months and values:
            return Decimal(values[0].replace(",", ".")), row.rstrip(".")
    return None


def _from_items(items: tuple[str, ...]) -> tuple[Decimal, str] | None:
    for item in items:
        m = _RATE_ITEM.search(item)
        if m:
            return Decimal(m.group(1).replace(",", ".")), item.lstrip("-•* ").rstrip(".").lower()
    return None


def _product(headings: tuple[str, ...]) -> str:
    for heading in reversed(headings):
        m = _QUOTED.search(heading)
        if m:
            return f"«{m.group(1)}»"
    return headings[-1] if headings else "условия банка"


def _psk(text: str) -> str | None:
    m = _PSK.search(text)
    return m.group(1) if m else None

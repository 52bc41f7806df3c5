"""Answers composed from what the knowledge base wrote, not from loose sentences.

A chunk is read back into its units: a paragraph (sentences), a list with
its lead-in line, a table (one row per line, «Срок: 6 месяцев; Ставка: …»).
The answer is the unit that best covers the question, cut the way a reader
would cut it: the table row asked for («на полгода» → the 6-month row) or the
whole table, the list items asked for under their lead-in, an address item
kept whole, a heading shown once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from razdel import sentenize

from knowledge.rerank import Reranker
from knowledge.ru.quantities import parse_term
from knowledge.types import Hit

UnitKind = Literal["text", "list", "table"]

_ITEM = re.compile(r"^\s*(?:[-•*]\s+|\d{1,2}[.)]\s+)")
_ROW = re.compile(r"^[^:;\n]{1,40}: [^;\n]+(?:; [^:;\n]{1,40}: [^;\n]+)+\.?$")
_WHERE = re.compile(r"\b(?:где|куда|адрес\w*|как\s+(?:добраться|найти|проехать))\b", re.IGNORECASE)
_ADDRESS_ITEM = re.compile(r"^\s*(?:[-•*]\s+)?адрес", re.IGNORECASE)
_FIGURE = re.compile(r"\b(?:сколько|скольки|скока|скоко|когда|"
                     r"какой\s+(?:процент|размер|срок|лимит|платёж|платеж|взнос)|"
                     r"какая\s+(?:ставка|сумма|неустойка|комиссия)|под\s+какой|какие\s+(?:ставки|проценты|сроки|суммы)|"
                     r"ставк\w*|процент\w*|максимальн\w*|минимальн\w*)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"\d[\d\s ]*(?:,\d+)?\s?(?:%|₽|руб|млн|тыс|лет|год|месяц|дн|юан|раб)|\b\d{1,2}:\d{2}\b",
                     re.IGNORECASE)
# A sentence that opens by pointing back («Этот закон…», «Однако такие…») needs the one before it.
_ANAPHORA = re.compile(r"^(?:эт[оаиу]т?|эти[мх]?|такие|такой|такая|такое|он[аи]?|оно|там|тогда|однако|"
                       r"при\s+этом|кроме\s+того|также|поэтому|в\s+этом|для\s+этого|это)\b", re.IGNORECASE)
FIGURE_BONUS = 0.2
INTRO_PENALTY = 0.2
MAX_SENTENCES = 3
RANK_BONUS = 0.25
DEFINITION_BONUS = 0.5


@dataclass(frozen=True)
class Unit:
    """One unit of a chunk as the knowledge base wrote it."""

    hit: Hit
    rank: int
    kind: UnitKind
    lead: str
    parts: tuple[str, ...]

    @property
    def intro(self) -> bool:
        """Whether the unit is a document's opening text, under its title only."""
        return len(self.hit.chunk.headings) <= 1 and self.hit.chunk.position == 0


@dataclass(frozen=True)
class Piece:
    """A unit cut for the question, with its score."""

    unit: Unit
    text: str
    score: float

    @property
    def heading(self) -> str:
        """The section's own heading."""
        headings = self.unit.hit.chunk.headings
        return headings[-1] if headings else ""


def units_of(hit: Hit, rank: int) -> list[Unit]:
    """The paragraphs, lists and tables of a chunk, in order."""
    lines = [line.strip() for line in hit.chunk.text.split("\n") if line.strip()]
    units: list[Unit] = []
    i = 0
    while i < len(lines):
        kind = _line_kind(lines[i])
        if kind == "text":
            units.append(Unit(hit, rank, "text", "", tuple(_sentences(lines[i]))))
            i += 1
            continue
        run = [lines[i]]
        while i + 1 < len(lines) and _line_kind(lines[i + 1]) == kind:
            i += 1
            run.append(lines[i])
        lead = ""
        if units and units[-1].kind == "text" and units[-1].parts[-1].endswith(":"):
            lead = " ".join(units.pop().parts)
        units.append(Unit(hit, rank, kind, lead, tuple(run)))
        i += 1
    return units


def _line_kind(line: str) -> UnitKind:
    if _ITEM.match(line):
        return "list"
    return "table" if _ROW.match(line) else "text"


def _sentences(text: str) -> list[str]:
    # razdel knows «ул.», «д.», «т. е.»: an address is not cut after «ул.».
    return [s.text for s in sentenize(text) if s.text.strip()]


class Composer:
    """Cuts the best units of the top hits for a question."""

    def __init__(self, reranker: Reranker) -> None:
        self.reranker = reranker

    def pieces(self, query: str, hits: Sequence[Hit]) -> list[Piece]:
        """Every unit of the hits, cut for `query`, best first."""
        out = [self._cut(query, unit) for rank, hit in enumerate(hits) for unit in units_of(hit, rank)]
        return sorted((p for p in out if p.text), key=lambda p: -p.score)

    def _cover(self, query: str, unit: Unit, text: str) -> float:
        # The heading is shared by every unit of a section: the unit's own words
        # decide between them, the heading only lifts the section as a whole.
        path = " ".join(unit.hit.chunk.headings)
        with_path = self.reranker.coverage(query, [f"{path} {unit.lead} {text}"])
        own = self.reranker.coverage(query, [f"{unit.lead} {text}"]) if text else 0.0
        score = 0.6 * with_path + 0.4 * own
        if _FIGURE.search(query) and _AMOUNT.search(text):
            score += FIGURE_BONUS
        return score

    def _cut(self, query: str, unit: Unit) -> Piece:
        bonus = RANK_BONUS / (unit.rank + 1)
        if unit.intro:
            # A document's introduction mentions everything and answers nothing.
            bonus -= INTRO_PENALTY
        if unit.kind == "text":
            return self._cut_text(query, unit, bonus)
        scores = [self._cover(query, unit, part) for part in unit.parts]
        chosen = self._rows(query, unit) if unit.kind == "table" else self._items(query, unit, scores)
        body = "\n".join(unit.parts[i] for i in chosen)
        text = f"{unit.lead}\n{body}" if unit.lead else body
        return Piece(unit, text, max(scores[i] for i in chosen) + bonus)

    def _cut_text(self, query: str, unit: Unit, bonus: float) -> Piece:
        leaf = unit.hit.chunk.headings[-1] if unit.hit.chunk.headings else ""
        best, best_score = 0, -1.0
        for pos, sentence in enumerate(unit.parts):
            score = self._cover(query, unit, sentence)
            if self.reranker.defines(query, [sentence]) or (
                    pos == 0 and self.reranker.title_defines(query, leaf)):
                score += DEFINITION_BONUS
            if score > best_score:
                best, best_score = pos, score
        start = best - 1 if best > 0 and _ANAPHORA.match(unit.parts[best]) else best
        run = list(unit.parts[start : start + MAX_SENTENCES])
        # «…несколькими способами:» says nothing without what follows it.
        while len(run) > 1 and self._cover(query, unit, run[-1]) == 0 and not run[-2].endswith(":"):
            run.pop()
        return Piece(unit, " ".join(run), best_score + bonus)

    def _rows(self, query: str, unit: Unit) -> list[int]:
        """The rows for the term asked («на полгода»), else the whole table."""
        term = parse_term(query)
        if term is not None and term.months:
            months = int(term.in_months())
            wanted = [i for i, row in enumerate(unit.parts) if _row_months(row) == months]
            if wanted:
                return wanted
        return list(range(len(unit.parts)))

    def _items(self, query: str, unit: Unit, scores: list[float]) -> list[int]:
        """The items that answer, or the whole list when the question is about the list."""
        general = self._cover(query, unit, "")
        best = max(scores)
        if best - general < 0.1:
            return list(range(len(unit.parts)))
        chosen = {i for i, s in enumerate(scores) if s >= best - 0.1}
        if _WHERE.search(query):
            chosen |= {i for i, part in enumerate(unit.parts) if _ADDRESS_ITEM.match(part)}
        return sorted(chosen)


def _row_months(row: str) -> int | None:
    first = row.split(";", 1)[0]
    term = parse_term(first)
    return int(term.in_months()) if term is not None and term.months else None


def render(pieces: Sequence[Piece], reranker: Reranker) -> str:
    """Pieces under their headings, each heading once, in the order chosen."""
    blocks: list[tuple[str, list[str]]] = []
    for piece in pieces:
        heading = piece.heading
        if blocks and blocks[-1][0] == heading:
            blocks[-1][1].append(piece.text)
        else:
            blocks.append((heading, [piece.text]))
    out = []
    for heading, texts in blocks:
        body = "\n".join(texts)
        says_it = not heading or reranker.coverage(heading, [body[:200]]) >= 0.5
        out.append(body if says_it else f"{heading}:\n{body}")
    return "\n\n".join(out)


# What kind of figure a question wants, and how an answer states one.
_FIGURE_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"ставк|процент|под\s+как|годовых", re.IGNORECASE), re.compile(r"\d\s?%")),
    (re.compile(r"\bстои\w*|стоимост|\bцен[аыу]\b|\bплат[аиуы]\b|тариф|комисси", re.IGNORECASE),
     re.compile(r"\d[\d\s ]*(?:,\d+)?\s?(?:₽|руб|%)|бесплатн|без\s+комисси", re.IGNORECASE)),
    (re.compile(r"во\s+ско(?:лько|ка|ко)|до\s+скольки|часы\s+работы|график|открыва|закрыва|\bобед",
                re.IGNORECASE),
     re.compile(r"\b\d{1,2}:\d{2}\b|круглосуточно")),
)


def asks_figure(query: str) -> bool:
    """Whether the question wants a number: a rate, a sum, a term, a time."""
    return bool(_FIGURE.search(query))


def asks_figure_kind(query: str) -> bool:
    """Whether the question wants a figure of a set kind: a rate, a price, a time of day."""
    return any(asks.search(query) for asks, _ in _FIGURE_KINDS)


def has_figure(text: str, query: str = "") -> bool:
    """Whether the text states a number of the kind `query` asks for (any kind without one)."""
    for asks, states in _FIGURE_KINDS:
        if query and asks.search(query):
            return bool(states.search(text))
    return bool(_AMOUNT.search(text))

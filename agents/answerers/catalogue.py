"""The bank's products as its knowledge base describes them, for overview questions.

«Какие вклады у вас есть?» wants a list, not the passage that happens to
share the most words. A product is a section of the knowledge base that
states a rate (a «Ставка: …» line or a rate table under it); its name is the
quoted name in its heading, its key condition the rate and the section's
first sentence. A stated need («чтобы можно было пополнять») picks the
product whose section says it can, not the one that says «без пополнения».
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.types import Chunk

_OVERVIEW = re.compile(
    r"\b(?:какие|какой|какая|какое|что|чем)\b.{0,25}\b(?:есть|бывают|предлагаете|имеются|у\s+вас|выбрать|"
    r"посовету\w*|подойд\w*|подход\w*|лучше|выгодн\w*)\b"
    r"|\bпосовету\w*|\bперечисл\w*|\bсписок\b|\bассортимент\w*|\bлине\w*\s+продукт",
    re.IGNORECASE,
)
_ADVICE = re.compile(r"посовету|подойд|подход|выбрать|лучше|выгодн|чтоб|чтобы|нужн|хочу|можно\s+(?:было|бы)",
                     re.IGNORECASE)
_RATE_LINE = re.compile(r"ставк\w*[^.\n]{0,60}?\d+(?:,\d+)?\s?%", re.IGNORECASE)
_PERCENT = re.compile(r"(\d+(?:,\d+)?)\s?%")
_QUOTED = re.compile(r"«([^»]{2,60})»")
_NEGATION = re.compile(r"\bне\s+(?:предусмотрен|допуска|доступ|бывает)|\bнельзя\b|\bнедоступ", re.IGNORECASE)
# Words of an overview question that name the category, not the need.
_CATEGORY = {
    "вклад": ("вклад", "депозит", "счёт", "счет"),
    "кредит": ("кредит", "ипотек", "рефинанс", "заём", "займ"),
}
_STOP = {"какой", "какие", "вклад", "кредит", "посоветовать", "можно", "чтобы", "чтоб", "быть", "у", "вы",
         "есть", "мочь", "хотеть", "нужный", "нужно", "я", "мы", "выбрать", "лучше", "подойти", "который",
         "ставка", "процент", "условие", "посоветуть", "посоветуете", "выгодный", "самый", "какой-то",
         "такой", "с", "и", "а", "на", "по", "в", "для", "что", "депозит", "банк", "ваш", "свой"}


@dataclass(frozen=True)
class Product:
    """A product section: its name, the chunks under it, and its key facts."""

    name: str
    category: str
    heading: tuple[str, ...]
    description: str
    rate: str
    text: str
    source: str


def is_overview(text: str) -> str | None:
    """The product category an overview question asks about («вклад», «кредит»), or None."""
    if not _OVERVIEW.search(text):
        return None
    lowered = text.lower()
    listing = re.search(r"\b(?:какие|что)\b.{0,25}\b(?:есть|бывают|предлагаете|у\s+вас)\b", lowered)
    if not (listing or _ADVICE.search(lowered)):
        return None
    for category, stems in _CATEGORY.items():
        if any(re.search(rf"\b{stem}\w*", lowered) for stem in stems):
            return category
    return None


def products(chunks: Sequence[Chunk], category: str) -> list[Product]:
    """Products of a category, in the order the knowledge base lists them."""
    sections: dict[tuple[str, ...], list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.source, c.position)):
        if len(chunk.headings) >= 2:
            sections.setdefault(chunk.headings[:2], []).append(chunk)
    out = []
    for heading, members in sections.items():
        text = "\n".join(c.text for c in members)
        rate = _rate(text)
        stems = _CATEGORY[category]
        about = f"{' '.join(heading)} {text[:300]}".lower()
        if rate and any(stem in about for stem in stems):
            out.append(Product(_name(heading[-1]), category, heading, _first_sentence(members[0].text),
                               rate, text, members[0].source))
    return out


def _rate(text: str) -> str:
    """«от 17,5 %» from a «Ставка: …» line, or «от 11,0 до 15,0 %» from a rate table."""
    line = _RATE_LINE.search(text)
    table = [float(v.replace(",", ".")) for row in text.split("\n") if ";" in row
             for v in _PERCENT.findall(row)]
    if len(table) >= 2:
        low, high = min(table), max(table)
        fmt = lambda v: f"{v:.1f}".replace(".", ",")  # noqa: E731
        return f"от {fmt(low)} до {fmt(high)} % годовых" if low != high else f"{fmt(low)} % годовых"
    if line:
        rest = text[line.start():].split("\n", 1)[0]
        return rest.split(":", 1)[-1].strip().rstrip(".")
    return ""


def _name(heading: str) -> str:
    quoted = _QUOTED.search(heading)
    return f"«{quoted.group(1)}»" if quoted else heading


def _first_sentence(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s", text.strip().split("\n", 1)[0], maxsplit=1)[0]
    return first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + "…"


def need_lemmas(text: str, lemmatizer: Lemmatizer) -> list[str]:
    """What the customer needs («чтобы можно было пополнять»), minus the question's own words.

    Empty when the question states no need: «какие вклады есть и какие ставки»
    asks for the list.
    """
    if not _ADVICE.search(text):
        return []
    return [lem for lem in lemmatizer.lemmas(text) if lem not in _STOP and len(lem) > 2]


def fits(product: Product, need: Sequence[str], lemmatizer: Lemmatizer) -> float:
    """How well a product's own text meets the need; a negated mention counts against it.

    «без пополнения» and «пополнение … не предусмотрено» negate; «пополнение:
    без ограничений» does not: «без» must stand right before the need word.
    """
    stems = {n[:5] for n in need}
    score = 0.0
    for sentence in re.split(r"(?<=[.!?;])\s+|\n", product.text):
        words = re.findall(r"\w+", sentence.lower())
        for pos, word in enumerate(words):
            lemmas = {lem[:5] for lem in lemmatizer.lemmas(word)}
            if not lemmas & stems:
                continue
            before = words[max(0, pos - 2) : pos]
            after = " ".join(words[pos + 1 :])
            negated = "без" in before or "нельзя" in before or bool(_NEGATION.search(after))
            score += -1.0 if negated else 1.0
    return score


def overview_text(items: Sequence[Product], category: str) -> str:
    """A short list: each product with its rate and what it is for."""
    title = "Вклады и счета" if category == "вклад" else "Кредиты"
    lines = [f"{title} банка:"]
    lines += [f"- {p.name}: {p.rate}. {p.description}" for p in items]
    return "\n".join(lines)


def advice_text(best: Product, others: Sequence[Product]) -> str:
    """The product that meets the need, then the rest in one line."""
    text = f"Под ваше условие подходит {best.name}: {best.description} Ставка: {best.rate}."
    rest = [p.name for p in others if p.name != best.name]
    if rest:
        text += f"\nДругие варианты: {', '.join(rest)}."
    return text

"""Russian text for retrieval: tokens, lemmas, stop words and synonyms.

BM25 over raw Russian word forms misses most matches: «вклад», «вклада»,
«вкладов» are one word to a reader. Every indexed text and every query is
therefore reduced to pymorphy3 lemmas before scoring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.ru.morph import analyzer

TOKEN_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[a-zа-яё]+", re.IGNORECASE)

# Function words and question words: they carry no topic, and in a question
# («Что такое АСВ?») they would otherwise outweigh the one word that matters.
STOP_LEMMAS = frozenset(
    """
    а без более бы был быть в вам вас весь во вот все всё вы где да даже для до его ее
    её если есть ещё же за здесь и из или им их к как какой каков кто ли либо между меня
    мне мой можно мы на над надо наш не него нее неё нет ни них но ну о об однако он она
    они оно от очень по под при про с сам свой себя со так также такой там те тем то
    тогда тоже только том тот ту ты у уже хотя чего чей чем что чтобы чтоб эта эти это
    этот я который которые сколько зачем почему каким какая какие каково мочь нужно
    давать дать
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Lemma-level synonyms a bank's customer uses interchangeably. A query term
# is expanded with these (at a lower weight) before lexical scoring.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "депозит": ("вклад",),
    "вклад": ("депозит",),
    "асв": ("агентство", "страхование", "вклад"),
    "ип": ("индивидуальный", "предприниматель"),
    "ипотека": ("ипотечный",),
    "ипотечный": ("ипотека",),
    "заём": ("кредит",),
    "займ": ("кредит",),
    "ссуда": ("кредит",),
    "кредит": ("заём", "ссуда"),
    "компенсация": ("возмещение",),
    "возмещение": ("выплата", "компенсация"),
    "выплата": ("возмещение",),
    "бки": ("бюро", "кредитный", "история"),
    "пск": ("полный", "стоимость", "кредит"),
    "ндфл": ("налог",),
    "процент": ("ставка",),
    "ставка": ("процент",),
    "валютный": ("валюта",),
    "карта": ("карточка",),
    "отделение": ("офис", "филиал"),
    "рано": ("досрочно", "досрочный"),
    "ранний": ("досрочно", "досрочный"),
    "досрочно": ("досрочный",),
    "досрочный": ("досрочно",),
    "объединить": ("рефинансирование",),
    "просрочить": ("просрочка",),
    "просрочка": ("неустойка", "штраф"),
    "офис": ("отделение",),
    # Everyday words of customers for the terms banks write.
    "доллар": ("валюта", "валютный"),
    "евро": ("валюта", "валютный"),
    "юань": ("валюта", "валютный"),
    "суббота": ("выходной",),
    "воскресенье": ("выходной",),
    "обменник": ("обмен", "валюта"),
    "обменять": ("обмен",),
    "пожаловаться": ("жалоба", "претензия"),
    "жалоба": ("претензия",),
    "раньше": ("досрочно", "досрочный"),
    "зарплата": ("доход",),
    "лицензия": ("отзыв",),
    # Colloquial words for a bank's failure and for getting money back.
    "лопнуть": ("банкротство", "отзыв", "лицензия"),
    "прогореть": ("банкротство", "отзыв", "лицензия"),
    "обанкротиться": ("банкротство", "отзыв", "лицензия"),
    "банкрот": ("банкротство",),
    "закрыться": ("отзыв", "лицензия"),
    "вернуть": ("возмещение", "выплата", "возврат"),
    "отдать": ("возмещение", "выплата"),
    "страховка": ("страхование", "страховой"),
    "застраховать": ("страхование", "страховой"),
    # Shortened and everyday names of products and documents.
    "потреба": ("потребительский",),
    "потребкредит": ("потребительский", "кредит"),
    "кредитка": ("кредитный", "карта"),
    "расчетник": ("расчётный", "счёт"),
    "зп": ("заработный", "плата", "зарплата"),
    "справка": ("документ",),
    "бумага": ("документ",),
    "машина": ("автомобиль", "автокредит"),
    "тачка": ("автомобиль", "автокредит"),
    "квартира": ("жильё", "недвижимость", "ипотека"),
    # Life events customers describe instead of the legal term.
    "умереть": ("наследник", "наследство", "смерть"),
    "наследство": ("наследник",),
    "судиться": ("суд", "иск", "спор"),
    "коллектор": ("взыскание", "задолженность"),
    "муж": ("супруг",),
    "жена": ("супруг",),
}

_PREDICATE_POS = frozenset({"VERB", "PRTS", "ADJS", "PRED"})


class Lemmatizer:
    """Turns Russian text into lemmas, with a per-instance word cache."""

    def __init__(self) -> None:
        self._morph = analyzer()
        self._cache: dict[str, str] = {}

    def lemma(self, word: str) -> str:
        """The normal form of one word, lower-case."""
        key = word.lower()
        cached = self._cache.get(key)
        if cached is None:
            plain = key.isdigit() or not _is_cyrillic(key)
            cached = key if plain else self._morph.parse(key)[0].normal_form
            self._cache[key] = cached
        return cached

    def lemmas(self, text: str, *, keep_stop: bool = False) -> list[str]:
        """All lemmas of `text` in order, stop words removed unless asked."""
        out = [self.lemma(t) for t in TOKEN_RE.findall(text)]
        if keep_stop:
            return out
        return [lem for lem in out if (lem not in STOP_LEMMAS and len(lem) > 1) or lem.isdigit()]

    def content_lemmas(self, text: str) -> set[str]:
        """The distinct topic-bearing lemmas of `text` (no stop words, no 1–2 letter words)."""
        return {lem for lem in self.lemmas(text) if len(lem) > 2 and not lem.isdigit()}

    def has_predicate(self, text: str) -> bool:
        """Whether `text` has a finite verb or a predicate word: a sentence, not a title."""
        for token in TOKEN_RE.findall(text):
            if self._morph.parse(token.lower())[0].tag.POS in _PREDICATE_POS:
                return True
        return False


def expand(lemmas: Iterable[str]) -> dict[str, float]:
    """Query lemmas with weights: the customer's own words 1.0, synonyms 0.5."""
    weights: dict[str, float] = dict.fromkeys(lemmas, 1.0)
    for lem in list(weights):
        for syn in SYNONYMS.get(lem, ()):
            weights.setdefault(syn, 0.5)
    return weights


def _is_cyrillic(word: str) -> bool:
    return any("а" <= ch <= "я" or ch == "ё" for ch in word)

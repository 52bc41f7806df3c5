"""Recognising what a customer's message asks for, before any answering.

Rules over lemmas, not a model: these decisions (a human is wanted, a
complaint, an application, small talk) must work the same with or without an
LLM and must never silently fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.ru.lemmatizer import Lemmatizer

_HUMAN = re.compile(
    r"\b(?:менеджер\w*|оператор\w*|сотрудник\w*|специалист\w*|консультант\w*|жив\w+\s+человек\w*"
    r"|человек[ау]?|переключ\w+|соедин\w+)\b|/manager",
    re.IGNORECASE,
)
_WANT = re.compile(
    r"\b(?:позов\w*|зов\w*|соедин\w*|переключ\w*|хочу|хотел\w*|нуж\w+|дайте|можно|свяж\w*|"
    r"поговор\w*|пригласит\w*|передайт\w*|давайте)\b",
    re.IGNORECASE,
)
_APPLY = re.compile(
    r"\b(?:хочу|хотим|хотел[аи]?\s+бы|готов[аы]?|давайте|буду|собираюсь|решил[аи]?)\s+"
    r"(?:\w+\s+){0,2}?(?:открыть|оформить|взять|получить|подать|оставить|разместить|положить|"
    r"записаться)\b"
    r"|\b(?:оформите|откройте|запишите)\s+(?:мне|меня|нам)\b"
    r"|^\s*(?:оставить|подать|оформить)\s+заявк\w*|\bдавайте\s+(?:оформим|откроем)\b",
    re.IGNORECASE,
)
_LIVE_DATA = re.compile(
    r"\bкурс\w*\s+(?:\w+\s+)?(?:доллар\w*|евро|юан\w*|валют\w*|рубл\w*|биткоин\w*)"
    r"|\b(?:котировк\w*|биржев\w*|акци[йияю]\w*|инвестиц\w*|крипт\w*|биткоин\w*|"
    r"куда\s+вложить|во\s+что\s+вложить|какие\s+бумаги)",
    re.IGNORECASE,
)
_GREETING = re.compile(r"^\s*(?:здравствуй\w*|добр\w+\s+(?:день|утро|вечер)|привет\w*|/start)\W*$",
                       re.IGNORECASE)
_THANKS = re.compile(r"^\s*(?:спасибо|благодар\w+|всего\s+доброго|до\s+свидания|пока)\b[^?]*$",
                     re.IGNORECASE)


def wants_human(text: str) -> bool:
    """«Позовите менеджера», «хочу поговорить с оператором», `/manager`."""
    if text.strip().lower().startswith("/manager"):
        return True
    return bool(_HUMAN.search(text)) and (bool(_WANT.search(text)) or len(text.split()) <= 3)


def wants_to_apply(text: str) -> bool:
    """«Хочу открыть вклад», «оформить кредит», «оставить заявку»."""
    return bool(_APPLY.search(text))


def asks_live_data(text: str) -> bool:
    """Exchange rates today, quotes, investment tips: not in any knowledge base."""
    return bool(_LIVE_DATA.search(text))


def is_greeting(text: str) -> bool:
    """A bare hello."""
    return bool(_GREETING.match(text))


def is_thanks(text: str) -> bool:
    """Thanks or goodbye without a new question."""
    return bool(_THANKS.match(text))


def complaint_word(text: str, words: Iterable[str], lemmatizer: Lemmatizer) -> str | None:
    """The first of a role's complaint words (or phrases) found in the message, by lemma."""
    lemmas = lemmatizer.lemmas(text, keep_stop=True)
    joined = f" {' '.join(lemmas)} "
    for word in words:
        phrase = " ".join(lemmatizer.lemmas(word, keep_stop=True))
        if phrase and f" {phrase} " in joined:
            return word
    return None


_HOW_TO_COMPLAIN = re.compile(
    r"\b(?:куда|как|где|кому|каким\s+образом|по\s+какому\s+адресу)\b.{0,40}\b(?:жалоб\w*|претензи\w*|"
    r"пожаловат\w*|обращени\w*)"
    r"|\b(?:жалоб\w*|претензи\w*)\b.{0,60}\b(?:сколько|когда|какой\s+срок|как\s+долго)\b.{0,20}"
    r"(?:ждать|ответ|рассматрива)", re.IGNORECASE)


def asks_how_to_complain(text: str) -> bool:
    """«куда писать жалобу?» asks for the complaints channel; it is not itself a complaint."""
    return bool(_HOW_TO_COMPLAIN.search(text))

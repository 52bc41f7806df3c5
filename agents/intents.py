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


# -- lead-form intents ------------------------------------------------------------------
# Natural Russian, every gender and in a sentence: «да, можно», «согласна», «не хочу давать
# данные», «а зачем вам мои данные? не согласна». Negations are read before agreement,
# because «не согласна» contains «согласна» (and «не против» is a yes).

_NOT_AGAINST = re.compile(r"\bне\s+(?:против|возражаю|возражаем)\b", re.IGNORECASE)
_CONSENT_NO = re.compile(
    r"\bне\s+(?:соглас\w*|соглаш\w*|соглашаюсь|хочу|хотим|дам|даю|даём|даем|буду|будем|готов\w*|"
    r"разрешаю|надо|нужно|стоит)\b|\b(?:против|отказываюсь|отказ|нет|неа|ни\s+за\s+что)\b",
    re.IGNORECASE)
_CONSENT_YES = re.compile(
    r"\b(?:да|даю|соглас[ен]\w*|согласие|соглаша\w*|ок(?:ей)?|ok|окей|хорошо|ладно|конечно|можно|давайте|"
    r"разрешаю|подтверждаю|угу|ага|yes|валяйте|пожалуйста|не\s+против)\b",
    re.IGNORECASE)
_CANCEL = re.compile(
    r"\b(?:отмен\w*|передумал\w*|раздумал\w*|отбой)\b"
    # «стоп», «хватит» open the message; «паспорта хватит?» means «enough», not «stop».
    r"|^\W*(?:стоп|хватит)\b"
    r"|\bне\s+(?:надо|нужно|нужна|хочу|буду|будем)\s+(?:\w+\s+)?(?:заявк\w*|оформля\w*|оформить|"
    r"ничего|больше)\b"
    r"|\b(?:заявк\w*|оформление)\s+(?:не\s+)?(?:не\s+надо|не\s+нужн\w*|отмен\w*)"
    r"|\bзабей\w*|^\s*(?:не\s+надо|не\s+нужно|уже\s+не\s+(?:надо|нужно))\W*$",
    re.IGNORECASE)
_CONFIRM_YES = re.compile(r"^\W*(?:да|верно|всё\s+верно|все\s+верно|правильно|всё\s+так|все\s+так|"
                          r"подтверждаю|ок(?:ей)?|точно|отправляйте|отправить|угу|ага)\b"
                          r"(?!.*\b(?:не\s+так|неправ|ошиб|исправ|не\s+то|не\s+верно))",
                          re.IGNORECASE)
_WRONG = re.compile(r"\b(?:неправильн\w*|неверн\w*|не\s+верн\w*|не\s+то[йт]?|не\s+так\w*|ошиб\w*|"
                    r"исправ\w*|помен\w*|измен\w*|другой|другое|другая|опечат\w*)\b", re.IGNORECASE)
_FIELD_WORDS: dict[str, re.Pattern[str]] = {
    "name": re.compile(r"\b(?:имя|имени|фамили\w*|зовут)\b", re.IGNORECASE),
    "phone": re.compile(r"\b(?:телефон\w*|номер\w*|тел)\b", re.IGNORECASE),
    "amount": re.compile(r"\b(?:сумм\w*|деньг\w*)\b", re.IGNORECASE),
    "term": re.compile(r"\b(?:срок\w*)\b", re.IGNORECASE),
    "city": re.compile(r"\b(?:город\w*)\b", re.IGNORECASE),
}
_PRODUCT_LEAD = re.compile(
    r"\b(?:хочу|хачу|хочю|хчу|хотим|хотела?\s+бы|хотелось\s+бы|нужен|нужна|нужно|надо|желаю|"
    r"планирую|мечтаю\s+о|интересует\s+оформление|возьму|беру|оформите|оформи|оформляйте|откройте|открой|дайте|"
    r"хочу\s+оформить|можно\s+оформить|оформить|взять|открыть|получить|оформлю|открою)"
    r"\s+(?:\w+\s+){0,3}?"
    r"(?:кредит\w*|ипотек\w*|заём|займ\w*|рефинансир\w*|вклад\w*|депозит\w*|накопительн\w+\s+сч[её]т\w*)",
    re.IGNORECASE)
_INFO_QUESTION = re.compile(r"\?|\b(?:узна\w*|расскаж\w*|подробн\w*|информац\w*|про|ли|"
                            r"какой|какая|какие|какую|сколько|как|почему|зачем|где|когда|"
                            r"условия|ставк\w*|платеж\w*|платёж\w*|процент\w*|посчита\w*|рассчита\w*)\b",
                            re.IGNORECASE)
_SIDE_QUESTION = re.compile(r"\?|^\s*(?:подождите|погодите|стоп,|секунду|минуту|а\s+(?:что|как|"
                            r"какой|какая|какие|сколько|если|можно|он|она|это|где|когда|почему|зачем|"
                            r"правда))\b"
                            # Typed without «?»: «а паспорта хватит или справку нести», «нужна ли справка».
                            r"|^\s*а\s+(?:\w+[\s,]+){3,}\w+|\bли\b", re.IGNORECASE)
_QUESTION_START = re.compile(r"^\s*(?:что|как|какой|какая|какие|каких|сколько|где|когда|почему|зачем|"
                             r"можно\s+ли|есть\s+ли|нужн\w+\s+ли)\b", re.IGNORECASE)
_WHY_DATA = re.compile(r"\b(?:зачем|для\s+чего|почему|куда)\b.*\b(?:данн\w*|телефон\w*|номер\w*|"
                       r"имя|согласи\w*)", re.IGNORECASE)


_CONSENT_EXPLICIT = re.compile(r"\b(?:соглас[ен]\w*|даю\s+согласие|соглашаюсь)\b", re.IGNORECASE)


def consent_answer(text: str) -> bool | None:
    """True for agreement, False for refusal, None when the message says neither.

    In a question only an explicit «согласен» counts: «можно сразу продиктую номер?» is
    not an agreement.
    """
    if _NOT_AGAINST.search(text):
        return True
    if _CONSENT_NO.search(text):
        return False
    if "?" in text:
        return True if _CONSENT_EXPLICIT.search(text) else None
    if _CONSENT_YES.search(text):
        return True
    return None


def wants_to_cancel(text: str) -> bool:
    """«отмена», «передумала», «ладно, не надо заявку»."""
    return bool(_CANCEL.search(text))


def confirms(text: str) -> bool:
    """«да, всё верно» to the summary of a form (and no sign of a correction)."""
    return bool(_CONFIRM_YES.search(text))


def says_wrong(text: str) -> bool:
    """The customer says something is wrong: «неправильно», «имя не то», «исправьте»."""
    return bool(_WRONG.search(text))


def fields_mentioned(text: str, fields: set[str]) -> list[str]:
    """The form fields a message names («номер», «имя», «сумма»), in form order."""
    return [name for name, pattern in _FIELD_WORDS.items() if name in fields and pattern.search(text)]


_CLAUSE_QUESTION = re.compile(
    r"^(?:а\s+|и\s+|но\s+)?(?:что|как|какой|какая|какие|какую|каких|сколько|где|когда|почему|зачем|"
    r"куда|можно\s+ли|есть\s+ли|надо\s+ли)\b", re.IGNORECASE)
# «справка нужна или паспорта хватит», «лучше на год или на два»: a choice asked about.
_EITHER = re.compile(r"^(?=.*\bили\b).*\b(?:нужн\w*|надо|обязательн\w*|хватит|хватает|можно|лучше|"
                     r"подойд\w*|выгодн\w*)\b", re.IGNORECASE)


def asks_question(text: str) -> bool:
    """Whether a message also asks something: «хочу кредит 700 тысяч, нужна справка или паспорта хватит».

    «?», «ли», or a clause after the first that opens as a question does; «хочу
    кредит 2 млн, меня зовут Ольга» and «хочу вклад, нужно на год» do not.
    """
    if "?" in text or re.search(r"\bли\b", text, re.IGNORECASE):
        return True
    clauses = [c.strip() for c in re.split(r"[,;:—–]", text)[1:]]
    return any(_CLAUSE_QUESTION.match(c) or _EITHER.match(c) for c in clauses)


def wants_product(text: str) -> bool:
    """«хочу кредит 2 млн», «оформите ипотеку», «нужен вклад» — an application, not a question.

    «нужен кредит 500к на 3 года, какой платёж?» is a question (the calculator answers it).
    """
    return bool(_PRODUCT_LEAD.search(text)) and not _INFO_QUESTION.search(text)


def is_side_question(text: str) -> bool:
    """A question asked while a form waits for a field: «подождите, а он застрахован?»."""
    if _SIDE_QUESTION.search(text):
        return True
    return bool(_QUESTION_START.search(text)) and len(text.split()) >= 3  # «как получится» is an answer


def asks_why_data(text: str) -> bool:
    """«а зачем вам мои данные?»."""
    return bool(_WHY_DATA.search(text))

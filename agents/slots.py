"""Reading a lead form's fields out of any customer message, in any order.

One message may carry several facts («меня Иван зовут, телефон 8 912 345 67 89»,
«кредит 2 млн на 3 года»); each reader finds its own and ignores the rest:

- phones through libphonenumber (`phonenumbers`), written as E.164;
- amounts and terms through the project's Russian quantity reader (digits or
  words: «2 млн», «двести тысяч», «на три года»), with the phone digits cut out
  first so a number is never read as money;
- names through pymorphy3's Name/Surn/Patr tags, or the word after «зовут»;
- cities through pymorphy3's Geox tag.

A correction («не 200, а 250 тысяч», «правильно +7 …») is read from the part
after the corrective word, so the old value never wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.ru.quantities import glue_halves, parse_amount, parse_term

REGION = "RU"
NAME_TAGS = frozenset({"Name", "Surn", "Patr"})
_WORD = re.compile(r"[А-ЯЁа-яёA-Za-z]+(?:-[А-ЯЁа-яёA-Za-z]+)?")
_NAME_CUE = re.compile(r"\b(?:зовут|имя|звать|обращаться|представлюсь|я\s*[-—]|это)\s*[:,]?\s*"
                       r"(?P<name>[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)?(?:\s+[А-ЯЁ][а-яё]+){0,2})",
                       re.IGNORECASE)
_NOT_NAMES = frozenset({
    "да", "нет", "ага", "угу", "ок", "хорошо", "ладно", "спасибо", "пожалуйста", "привет",
    "здравствуйте", "согласен", "согласна", "согласны", "можно", "конечно", "пропустить",
    "отмена", "стоп", "меня", "мой", "моя", "мое", "моё", "зовут", "имя", "телефон", "номер",
    "кредит", "вклад", "ипотека", "не", "то", "это", "я", "вы", "и", "а", "но", "ой", "город",
    "правильно", "неправильно", "неправильный", "верно", "всё", "все", "потом", "сейчас",
    "деньги", "банк", "менеджер", "заявка", "заявку", "тысяч", "миллиона", "года", "лет",
})
_CORRECTION_TAIL = re.compile(
    r"(?:\bне\s+[^,;]+?[,;]?\s+а\s+|\b(?:правильн\w*|верн\w*|точнее|вернее|на\s+самом\s+деле|"
    r"исправ\w*|замените\s+на|поменяйте\s+на)(?!\w)\s*[:—-]?\s*)(?P<tail>\w.*)$",
    re.IGNORECASE)
_YEARS_FIRST = re.compile(r"\b(?P<unit>лет|года?|месяц\w*)\s+на\s+(?P<n>\S+)", re.IGNORECASE)
_CITY_CUE = re.compile(r"\b(?:город\w*|г\.)\s*[:,-]?\s*(?P<city>[А-ЯЁа-яё-]+(?:\s+[А-ЯЁа-яё-]+)?)",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Slots:
    """The field values one message carries (normalised strings, as the lead form stores them)."""

    values: dict[str, str]
    phone_like: bool = False  # digits that look like a phone, even if not a valid one

    def get(self, name: str) -> str | None:
        """A field's value, if the message had one."""
        return self.values.get(name)


class SlotReader:
    """Reads every field a form knows from one message."""

    def __init__(self, lemmatizer: Lemmatizer) -> None:
        self._morph = lemmatizer._morph

    def read(self, text: str, fields: Iterable[str], *, asking: str | None = None) -> Slots:
        """Values of `fields` found in `text`; `asking` is the field the form asked last."""
        text = glue_halves(" ".join(text.split()))  # «пол миллиона» is no man called Пол
        tail = correction_tail(text)
        values: dict[str, str] = {}
        wanted = set(fields)
        for source in ((tail, text) if tail else (text,)):
            for name, value in self._read_all(source, wanted, asking).items():
                values.setdefault(name, value)
        return Slots(values, phone_like=len(re.sub(r"\D", "", text)) >= 7)

    def _read_all(self, text: str, wanted: set[str], asking: str | None) -> dict[str, str]:
        found: dict[str, str] = {}
        phone, rest = read_phone(text)
        if phone and "phone" in wanted:
            found["phone"] = phone
        if "amount" in wanted and (amount := read_amount(rest)):
            found["amount"] = amount
        if "term" in wanted and (term := read_term(rest)):
            found["term"] = term
        # A bare short answer counts as the asked name or city only when nothing else was
        # read: «5 млн» is an amount, not a city.
        bare = not found
        if "name" in wanted and (name := self.read_name(rest, asked=bare and asking == "name")):
            found["name"] = name
        if "city" in wanted and (city := self.read_city(rest, asked=bare and asking == "city")):
            found["city"] = city
        return found

    def read_name(self, text: str, *, asked: bool = False) -> str | None:
        """A person's name: tagged name words, the word after «зовут», or a bare short answer."""
        cue = _NAME_CUE.search(text)
        if cue:
            words = [w for w in cue["name"].split() if w.lower() not in _NOT_NAMES]
            if words and (asked or self._is_name(words[0]) or words[0][:1].isupper()):
                return _title(words[:3])
        words = _WORD.findall(text)
        run = self._name_run(words)
        if run:
            return _title(run)
        if asked and 0 < len(words) <= 3 and len(words) == len(text.strip(" .!,").split()) \
                and not any(w.lower() in _NOT_NAMES or self._is_city(w) for w in words):
            return _title(words)
        return None

    def read_city(self, text: str, *, asked: bool = False) -> str | None:
        """A city: a Geox word («в Казани»), or a short answer to «в каком городе?»."""
        cue = _CITY_CUE.search(text)
        if cue:
            return _title(cue["city"].split())
        for word in _WORD.findall(text):
            if self._is_city(word) and (asked or word[:1].isupper()):
                return self._morph.parse(word)[0].normal_form.title()
        words = _WORD.findall(text)
        if asked and 0 < len(words) <= 3 and not any(w.lower() in _NOT_NAMES for w in words):
            return _title(words)
        return None

    def _name_run(self, words: list[str]) -> list[str]:
        """The first run of one to three name words that starts with a first name or surname."""
        run: list[str] = []
        for word in words:
            if word.lower() not in _NOT_NAMES and self._is_name(word, strict=not run):
                run.append(word)
                if len(run) == 3:
                    break
            elif run:
                break
        return run

    def _is_name(self, word: str, *, strict: bool = True) -> bool:
        """Tagged as a name part: by the best parse, or by any parse when capitalised."""
        parses = self._morph.parse(word)
        if not parses:
            return False
        if NAME_TAGS & set(parses[0].tag.grammemes) and parses[0].score >= 0.3:
            return True
        capital = word[:1].isupper()
        return capital and not strict and any(NAME_TAGS & set(p.tag.grammemes) for p in parses)

    def _is_city(self, word: str) -> bool:
        parses = self._morph.parse(word)
        return bool(parses) and "Geox" in parses[0].tag.grammemes


def read_phone(text: str) -> tuple[str | None, str]:
    """The last valid phone in `text` as E.164, and the text with every phone cut out."""
    found: list[str] = []
    rest = text
    for match in reversed(list(phonenumbers.PhoneNumberMatcher(text, REGION))):
        found.append(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
        rest = rest[:match.start] + " " + rest[match.end:]
    return (found[0] if found else None), rest


def read_amount(text: str) -> str | None:
    """«2 млн» → «2000000 RUB»; None when there is no positive amount."""
    money = parse_amount(_YEARS_FIRST.sub(r"на \g<n> \g<unit>", text))
    return f"{money.value} {money.currency}" if money and money.value > 0 else None


def read_term(text: str) -> str | None:
    """«на три года», «лет на пять» → «36 мес.», «60 мес.»."""
    term = parse_term(_YEARS_FIRST.sub(r"на \g<n> \g<unit>", text))
    return f"{term.in_months()} мес." if term and term.in_months() > 0 else None


def correction_tail(text: str) -> str | None:
    """The corrected part of «не 200, а 250 тысяч» / «правильно +7 …», if the message corrects."""
    match = _CORRECTION_TAIL.search(text)
    return match["tail"] if match else None


def _title(words: Iterable[str]) -> str:
    return " ".join("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in words)

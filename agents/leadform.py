"""Filling a role's lead form across turns: consent first, then field by field.

The same rules run with or without an LLM, so an application never depends on
a model behaving. Personal data (name, phone, city) is read only after the
customer has agreed to the processing text; amounts and terms are not
personal and may be taken from the very message that starts the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.turn import LeadState
from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.ru.money import format_money
from knowledge.ru.quantities import find_phone, parse_amount, parse_term

CONSENT_VERSION = "2026-11-01"
CONSENT_TEXT = (
    "Для оформления заявки нам нужно ваше согласие на обработку персональных данных "
    "(имя, телефон и сведения о запросе) Банком «Вершина» в целях консультации и оформления "
    "заявки. Согласие можно отозвать в любой момент командой /forget."
)
PERSONAL_FIELDS = frozenset({"name", "phone", "city"})


@dataclass(frozen=True)
class ConsentText:
    """The processing text a customer agrees to and its version (recorded with the consent)."""

    text: str
    version: str


DEFAULT_CONSENT = ConsentText(CONSENT_TEXT, CONSENT_VERSION)
PRODUCT_NAMES = {"deposit": "вклад", "loan": "кредит", "other": "обращение"}

_YES = re.compile(r"^\s*(?:да|ага|ок(?:ей)?|хорошо|конечно|согласен|согласна|согласны|"
                  r"даю\s+согласие|подтверждаю|я\s+согласен|я\s+согласна)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(?:нет|не\s+согласен|не\s+согласна|не\s+хочу|отказываюсь|отмена)\b",
                 re.IGNORECASE)
_SKIP = re.compile(r"^\s*(?:нет|пропустить|пропусти|не\s+знаю|потом|неважно|-)\s*[.!]?\s*$",
                   re.IGNORECASE)
_NAME_INTRO = re.compile(r"^\s*(?:меня\s+зовут|я\s*[-—]?|это|зовут)\s+", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?$")


@dataclass(frozen=True)
class FormStep:
    """What the form did with a message.

    `handled` is False when the message was not an answer to the form (a new
    question): the agent answers it and repeats `reminder`.
    """

    handled: bool
    text: str = ""
    completed: bool = False
    cancelled: bool = False
    reminder: str = ""
    quick_replies: tuple[str, ...] = ()
    request_phone: bool = False


class LeadForm:
    """Drives one role's lead form (`role.lead_form`) over a dialog's `LeadState`."""

    def __init__(self, form: Any, lemmatizer: Lemmatizer,
                 consent: ConsentText = DEFAULT_CONSENT) -> None:
        self.form = form
        self._lem = lemmatizer
        self.consent = consent

    def start(self, trigger_text: str) -> tuple[LeadState, FormStep]:
        """Open the form; pre-fill non-personal fields found in the trigger message."""
        state = LeadState(product=self.form.product)
        for name, value in self._non_personal_values(trigger_text).items():
            state.fields[name] = value
        if self.form.consent_required:
            state.asking = "consent"
            return state, FormStep(True, self.consent.text + "\n\nВы согласны?",
                                   quick_replies=("Согласен", "Не согласен"))
        return state, self._ask_next(state)

    def step(self, state: LeadState, text: str) -> FormStep:
        """Take the customer's answer to the current question."""
        if state.asking == "consent":
            return self._consent(state, text)
        field = self._field(state.asking)
        if field is None:
            return self._ask_next(state)
        if not field.required and _SKIP.match(text):
            state.fields[field.name] = ""
            return self._ask_next(state)
        value = self.read(field.name, text)
        if value is None:
            if "?" in text:
                return FormStep(False, reminder=field.ask)
            return FormStep(True, _RETRY.get(field.name, "Не удалось разобрать ответ. ") + field.ask)
        state.fields[field.name] = value
        return self._ask_next(state)

    def read(self, name: str, text: str) -> str | None:
        """A field's value from a message, normalised, or None when it does not parse."""
        if name == "phone":
            return find_phone(text)
        if name == "amount":
            money = parse_amount(text)
            return f"{money.value} {money.currency}" if money and money.value > 0 else None
        if name == "term":
            term = parse_term(text)
            return f"{term.in_months()} мес." if term and term.in_months() > 0 else None
        if name == "name":
            return self._name(text)
        if name == "city":
            words = [w for w in re.findall(r"[А-ЯЁа-яё-]+", text) if len(w) > 1]
            return " ".join(words[:3]).title() if 0 < len(words) <= 3 else None
        cleaned = " ".join(text.split())
        return cleaned[:500] or None

    def summary(self, state: LeadState) -> str:
        """The collected form in words, for the customer's confirmation."""
        parts = []
        for field in self.form.fields:
            value = state.fields.get(field.name)
            if value:
                parts.append(f"{field.label}: {_display(field.name, value)}")
        return "; ".join(parts)

    def _consent(self, state: LeadState, text: str) -> FormStep:
        if _NO.match(text):
            return FormStep(True, "Понимаю. Без согласия мы не можем принять заявку, но я с "
                            "удовольствием отвечу на ваши вопросы.", cancelled=True)
        if _YES.match(text):
            state.consent = True
            state.consent_version = self.consent.version
            return self._ask_next(state)
        if "?" in text:
            return FormStep(False, reminder="Вы согласны на обработку персональных данных?",
                            quick_replies=("Согласен", "Не согласен"))
        return FormStep(True, "Пожалуйста, ответьте «согласен» или «не согласен».",
                        quick_replies=("Согласен", "Не согласен"))

    def _ask_next(self, state: LeadState) -> FormStep:
        for field in self.form.fields:
            if field.name not in state.fields:
                state.asking = field.name
                return FormStep(True, field.ask, quick_replies=() if field.required else ("Пропустить",),
                                request_phone=field.name == "phone")
        state.asking = None
        state.completed = True
        product = PRODUCT_NAMES.get(state.product, "обращение")
        return FormStep(True, f"Спасибо! Заявка на {product} принята: {self.summary(state)}. "
                        "Менеджер свяжется с вами в рабочее время.", completed=True)

    def _field(self, name: str | None) -> Any:
        return next((f for f in self.form.fields if f.name == name), None)

    def _non_personal_values(self, text: str) -> dict[str, str]:
        names = {f.name for f in self.form.fields}
        values = {n: self.read(n, text) for n in ("amount", "term") if n in names}
        return {k: v for k, v in values.items() if v}

    def _name(self, text: str) -> str | None:
        stripped = _NAME_INTRO.sub("", text.strip()).strip(" .!,")
        words = stripped.split()
        if not 0 < len(words) <= 3 or any(not w.replace("-", "").isalpha() for w in words):
            return None
        morph = self._lem._morph
        tagged = any({"Name", "Surn", "Patr"} & set(morph.parse(w)[0].tag.grammemes) for w in words)
        if tagged or all(_NAME_WORD.match(w) for w in words):
            return " ".join(w[:1].upper() + w[1:] for w in words)
        return None


_RETRY = {
    "phone": "Не получилось распознать номер телефона. ",
    "amount": "Не получилось распознать сумму. ",
    "term": "Не получилось распознать срок. ",
    "name": "Не получилось распознать имя. ",
}


def _display(name: str, value: str) -> str:
    if name == "amount":
        number, _, currency = value.partition(" ")
        return format_money(number, currency or "RUB")
    return value

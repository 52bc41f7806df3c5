"""Filling a role's lead form across turns: consent first, then every field from any message.

The same rules run with or without an LLM, so an application never depends on
a model behaving. While the form is open, every message is read for every
field (`agents.slots`), in any order and several at once; a value that differs
from a stored one is a correction, whatever the form asked last. Personal data
(name, phone, city) is read only after the customer has agreed to the
processing text: what they wrote before is not stored and is asked again.
Amounts and terms are not personal and are taken from any message.

Before the deal is stored the customer sees every field and may correct any
of them. A failed reading is re-asked differently once, then offered with
buttons (skip, a manager, cancel); a third failure of a required field hands
the dialog to a manager: the form never loops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import phonenumbers

from agents import intents
from agents.role_model import LeadField
from agents.role_model import LeadForm as FormSpec
from agents.slots import SlotReader, Slots
from agents.turn import LeadState
from knowledge.ru.lemmatizer import Lemmatizer
from knowledge.ru.money import format_money

CONSENT_VERSION = "2026-11-01"
CONSENT_TEXT = (
    "Для оформления заявки нам нужно ваше согласие на обработку персональных данных "
    "(имя, телефон и сведения о запросе) Банком «Вершина» в целях консультации и оформления "
    "заявки. Согласие можно отозвать в любой момент командой /forget."
)
PERSONAL_FIELDS = frozenset({"name", "phone", "city"})
#: `LeadState.asking` of a form parked in a `redirect` channel, waiting to go on elsewhere.
ELSEWHERE = "lawful_channel"
CONSENT_BUTTONS = ("Даю согласие", "Не даю согласия")
CONFIRM_BUTTONS = ("Да, всё верно", "Исправить")
SKIP = "Пропустить"
MANAGER = "Позвать менеджера"
CANCEL = "Отменить заявку"
CONSENT_QUESTION = "Вы согласны на обработку персональных данных?"
CANCELLED_TEXT = ("Хорошо, заявка отменена, данные из неё не сохранены. Если передумаете — просто "
                  "напишите, и я помогу оформить её снова. А пока с удовольствием отвечу на вопросы.")
DECLINED_TEXT = ("Понимаю. Без согласия мы не можем принять заявку, и ваши данные не сохраняются. "
                 "Я с удовольствием отвечу на ваши вопросы, а оставить заявку можно в любой момент.")
WHY_DATA_TEXT = ("Имя и телефон нужны только для этой заявки: по ним менеджер банка свяжется с вами, "
                 "чтобы обсудить условия. Без вашего согласия мы их не записываем, а отозвать "
                 "согласие можно в любой момент командой /forget.")
EARLY_DATA_TEXT = ("Спасибо! Личные данные, которые вы написали до согласия, не сохранены — "
                   "повторите их, пожалуйста.")
HANDOFF_TEXT = ("Похоже, мне не удаётся разобрать ответ. Передаю заявку менеджеру — он поможет "
                "закончить её здесь же, в этом чате.")


@dataclass(frozen=True)
class ConsentText:
    """The processing text a customer agrees to and its version (recorded with the consent)."""

    text: str
    version: str


DEFAULT_CONSENT = ConsentText(CONSENT_TEXT, CONSENT_VERSION)
PRODUCT_NAMES = {"deposit": "вклад", "loan": "кредит", "other": "обращение"}


@dataclass(frozen=True)
class FormStep:
    """What the form did with a message.

    `handled` is False when the message was not for the form (a side
    question): the agent answers it and then sends `reminder` on its own.
    `handoff` is set when the form gives up and a manager should finish it.
    """

    handled: bool
    text: str = ""
    completed: bool = False
    cancelled: bool = False
    reminder: str = ""
    quick_replies: tuple[str, ...] = ()
    request_phone: bool = False
    handoff: bool = False


class LeadForm:
    """Drives one role's lead form (`role.lead_form`) over a dialog's `LeadState`."""

    def __init__(self, form: FormSpec, lemmatizer: Lemmatizer,
                 consent: ConsentText = DEFAULT_CONSENT) -> None:
        self.form = form
        self.consent = consent
        self._reader = SlotReader(lemmatizer)
        self._names = [f.name for f in form.fields]

    # -- entry points ---------------------------------------------------------------

    def start(self, trigger_text: str) -> tuple[LeadState, FormStep]:
        """Open the form; keep the non-personal fields found in the trigger message."""
        state = LeadState(product=self.form.product)
        if not self.form.consent_required:
            state.consent = True
        slots = self._read(state, trigger_text)
        self._store(state, slots)
        if not state.consent:
            state.asking = "consent"
            return state, FormStep(True, self.consent.text + "\n\n" + CONSENT_QUESTION,
                                   quick_replies=CONSENT_BUTTONS)
        return state, self._ask_next(state)

    def draft(self, trigger_text: str, state: LeadState | None = None) -> LeadState:
        """A form parked for a lawful channel: only the non-personal fields of the message.

        Used where personal data may not be collected (a `redirect` channel): no
        consent is asked and no name, phone or city is read, whatever the form says.
        """
        draft = state if state is not None and state.asking == ELSEWHERE else LeadState(self.form.product)
        slots = self._read(LeadState(self.form.product), trigger_text)
        for name, value in slots.values.items():
            if name not in PERSONAL_FIELDS:
                draft.fields[name] = value
        draft.asking, draft.consent, draft.consent_version = ELSEWHERE, False, None
        return draft

    def resume(self, state: LeadState) -> FormStep:
        """Go on with a parked form in a lawful channel: consent first, then the missing fields."""
        kept = [f.name for f in self.form.fields
                if state.fields.get(f.name) and f.name not in PERSONAL_FIELDS]
        product = PRODUCT_NAMES.get(state.product, "обращение")
        intro = f"Продолжим оформление заявки на {product}"
        intro += f" ({self._listed(state, kept)})." if kept else "."
        state.asking, state.failures = None, 0
        if not self.form.consent_required:
            state.consent = True
        if not state.consent:
            state.asking = "consent"
            return FormStep(True, f"{intro}\n\n{self.consent.text}\n\n{CONSENT_QUESTION}",
                            quick_replies=CONSENT_BUTTONS)
        return self._ask_next(state, prefix=intro)

    def step(self, state: LeadState, text: str) -> FormStep:
        """Take the customer's next message while the form is open."""
        if intents.wants_to_cancel(text):
            return FormStep(True, CANCELLED_TEXT, cancelled=True)
        if state.asking == "consent":
            return self._consent(state, text)
        if state.asking in ("confirm", "which_field"):
            return self._review(state, text)
        return self._fill(state, text)

    def reads(self, state: LeadState, text: str, *, personal: bool = True) -> bool:
        """Whether `text` carries a value for a field of the form (a non-personal one without `personal`)."""
        values = self._read(state, text).values
        return any(personal or name not in PERSONAL_FIELDS for name in values)

    def listed(self, state: LeadState, names: list[str]) -> str:
        """«сумма вклада — 500 000 ₽, срок вклада — 12 мес.» for the given fields."""
        return self._listed(state, names)

    def summary(self, state: LeadState, sep: str = "; ") -> str:
        """The collected form in words, for the customer's confirmation."""
        parts = []
        for field in self.form.fields:
            value = state.fields.get(field.name)
            if value:
                parts.append(f"{field.label}: {display(field.name, value)}")
        return sep.join(parts)

    # -- consent ---------------------------------------------------------------------

    def _consent(self, state: LeadState, text: str) -> FormStep:
        answer = intents.consent_answer(text)
        if answer is False:
            return FormStep(True, DECLINED_TEXT, cancelled=True)
        if answer is True:
            state.consent = True
            state.consent_version = self.consent.version
            state.failures = 0
            slots = self._read(state, text)
            self._store(state, slots)
            repeat = bool(state.offered_early) and not set(state.offered_early) & set(slots.values)
            state.offered_early = []
            return self._ask_next(state, prefix=EARLY_DATA_TEXT if repeat else "")
        if intents.asks_why_data(text):
            return FormStep(True, f"{WHY_DATA_TEXT}\n\n{CONSENT_QUESTION}", quick_replies=CONSENT_BUTTONS)
        early = len(state.offered_early)
        slots = self._read(state, text)
        kept = self._store(state, slots)
        if intents.is_side_question(text):
            return FormStep(False, reminder=f"Вернёмся к заявке: {_lower_first(CONSENT_QUESTION)}",
                            quick_replies=CONSENT_BUTTONS)
        if len(state.offered_early) > early or (slots.phone_like and not kept):
            return FormStep(True, "Чтобы записать ваши контактные данные, нужно согласие на обработку "
                            f"персональных данных — до него я их не сохраняю. {CONSENT_QUESTION}",
                            quick_replies=CONSENT_BUTTONS)
        if kept:
            return FormStep(True, f"Записано: {self._listed(state, kept)}. Чтобы продолжить, нужно "
                            f"ваше согласие. {CONSENT_QUESTION}", quick_replies=CONSENT_BUTTONS)
        state.failures += 1
        if state.failures >= 2:
            return FormStep(True, "Без согласия я не могу записать имя и телефон. Нажмите "
                            "«Даю согласие» или «Не даю согласия» — или позовите менеджера.",
                            quick_replies=(*CONSENT_BUTTONS, MANAGER))
        return FormStep(True, "Ответьте, пожалуйста, согласны ли вы на обработку персональных "
                        "данных: «да» или «нет».", quick_replies=CONSENT_BUTTONS)

    # -- fields ----------------------------------------------------------------------

    def _fill(self, state: LeadState, text: str) -> FormStep:
        field = self._field(state.asking)
        slots = self._read(state, text)
        before = dict(state.fields)
        kept = self._store(state, slots)
        corrected = [n for n in kept if before.get(n)]
        wrong = self._said_wrong(state, text, kept)
        if wrong:
            return self._ask_again(state, wrong)
        if not kept and field is not None and not field.required and _is_skip(text):
            state.fields[field.name] = ""
            kept = [field.name]
        if kept:
            state.failures = 0
            step = self._ask_next(state, prefix=self._corrected_note(state, corrected))
            if "?" in text:  # «а под какой процент на 3 года?»: keep the term, answer the question
                return replace(step, handled=False, text="",
                               reminder=f"Вернёмся к заявке: {_lower_first(step.text)}")
            return step
        if field is None:
            return self._ask_next(state)
        if intents.is_side_question(text):
            return FormStep(False, reminder=f"Вернёмся к заявке: {_lower_first(field.ask)}",
                            quick_replies=self._buttons(field), request_phone=field.name == "phone")
        return self._retry(state, field)

    def _retry(self, state: LeadState, field: LeadField) -> FormStep:
        """A failed reading: say so once, offer a way out the second time, never a third re-ask."""
        state.failures += 1
        if state.failures == 1:
            return FormStep(True, f"{_RETRY.get(field.name, 'Не удалось разобрать ответ.')} "
                            f"{field.ask} {_EXAMPLE.get(field.name, '')}".strip(),
                            quick_replies=self._buttons(field), request_phone=field.name == "phone")
        if state.failures == 2:
            way_out = "пропустить этот вопрос, " if not field.required else ""
            return FormStep(True, f"Похоже, я неправильно понимаю ответ. {field.ask} Можно также "
                            f"{way_out}позвать менеджера или отменить заявку.",
                            quick_replies=(*self._buttons(field), MANAGER, CANCEL),
                            request_phone=field.name == "phone")
        state.failures = 0
        if not field.required:
            state.fields[field.name] = ""
            return self._ask_next(state, prefix="Пропустим этот вопрос.")
        return FormStep(True, HANDOFF_TEXT, handoff=True)

    def _ask_next(self, state: LeadState, prefix: str = "") -> FormStep:
        for field in self.form.fields:
            if field.name not in state.fields:
                state.asking = field.name
                return FormStep(True, _join(prefix, field.ask), quick_replies=self._buttons(field),
                                request_phone=field.name == "phone")
        state.asking = "confirm"
        lines = self.summary(state, sep="\n")
        return FormStep(True, _join(prefix, f"Проверьте, пожалуйста, заявку:\n{lines}\n\nВсё верно? "
                                    "Если что-то не так, напишите, что исправить."),
                        quick_replies=CONFIRM_BUTTONS)

    # -- review and corrections -------------------------------------------------------

    def _review(self, state: LeadState, text: str) -> FormStep:
        slots = self._read(state, text)
        before = dict(state.fields)
        kept = self._store(state, slots)
        if kept:
            state.failures = 0
            corrected = [n for n in kept if before.get(n)]
            return self._ask_next(state, prefix=self._corrected_note(state, corrected))
        wrong = self._said_wrong(state, text, kept) or self._named_fields(text)
        if wrong:
            return self._ask_again(state, wrong)
        if state.asking == "confirm" and intents.confirms(text):
            return self._complete(state)
        if state.asking == "confirm" and (intents.says_wrong(text) or intents.consent_answer(text) is False):
            state.asking = "which_field"
            return FormStep(True, "Что нужно исправить?",
                            quick_replies=tuple(f.label for f in self.form.fields))
        if intents.is_side_question(text):
            return FormStep(False, reminder="Вернёмся к заявке: всё ли в ней верно?",
                            quick_replies=CONFIRM_BUTTONS)
        state.failures += 1
        if state.failures >= 3:
            state.failures = 0
            return FormStep(True, HANDOFF_TEXT, handoff=True)
        if state.failures == 2:
            return FormStep(True, "Нажмите «Да, всё верно», чтобы отправить заявку, или назовите поле, "
                            "которое нужно исправить. Можно также позвать менеджера.",
                            quick_replies=(*CONFIRM_BUTTONS, MANAGER))
        return FormStep(True, "Если всё верно, ответьте «да». Если нет — напишите, что исправить, "
                        "например: «телефон +7 912 345-67-89».", quick_replies=CONFIRM_BUTTONS)

    def _complete(self, state: LeadState) -> FormStep:
        state.asking = None
        state.completed = True
        state.failures = 0
        product = PRODUCT_NAMES.get(state.product, "обращение")
        summary = self.summary(state).rstrip(".")
        return FormStep(True, f"Спасибо! Заявка на {product} принята: {summary}. "
                        "Менеджер свяжется с вами в рабочее время. А пока я на связи — "
                        "спрашивайте, если появятся вопросы.", completed=True)

    def _said_wrong(self, state: LeadState, text: str, kept: list[str]) -> list[str]:
        """Fields the customer calls wrong without giving a new value («имя не то»)."""
        if not intents.says_wrong(text):
            return []
        named = intents.fields_mentioned(text, set(self._names))
        return [n for n in named if n not in kept and self._may_read(state, n)]

    def _named_fields(self, text: str) -> list[str]:
        """A field picked by its label («Телефон», a button) while choosing what to fix."""
        lowered = text.strip(" .!").lower()
        by_label = [f.name for f in self.form.fields if f.label.lower() == lowered]
        return by_label or intents.fields_mentioned(text, set(self._names))

    def _ask_again(self, state: LeadState, names: list[str]) -> FormStep:
        for name in names:
            state.fields.pop(name, None)
        state.failures = 0
        field = self._field(names[0])
        assert field is not None
        state.asking = field.name
        return FormStep(True, f"Хорошо, исправим. {field.ask}", quick_replies=self._buttons(field),
                        request_phone=field.name == "phone")

    def _corrected_note(self, state: LeadState, names: list[str]) -> str:
        if not names:
            return ""
        return f"Исправлено: {self._listed(state, names)}."

    # -- reading and storing -----------------------------------------------------------

    def _read(self, state: LeadState, text: str) -> Slots:
        asking = state.asking if state.asking in self._names else None
        return self._reader.read(text, self._names, asking=asking)

    def _store(self, state: LeadState, slots: Slots) -> list[str]:
        """Put the values the form may take now into the state; the names that changed."""
        changed: list[str] = []
        for name, value in slots.values.items():
            if not self._may_read(state, name):
                if name not in state.offered_early:
                    state.offered_early.append(name)
                continue
            if state.fields.get(name) != value:
                state.fields[name] = value
                changed.append(name)
        return changed

    def _may_read(self, state: LeadState, name: str) -> bool:
        return state.consent or name not in PERSONAL_FIELDS

    def _field(self, name: str | None) -> LeadField | None:
        return next((f for f in self.form.fields if f.name == name), None)

    def _listed(self, state: LeadState, names: list[str]) -> str:
        labels = {f.name: f.label for f in self.form.fields}
        return ", ".join(f"{labels[n].lower()} — {display(n, state.fields[n])}" for n in names)

    def _buttons(self, field: LeadField) -> tuple[str, ...]:
        return () if field.required else (SKIP,)


_RETRY = {
    "phone": "Не получилось распознать номер телефона.",
    "amount": "Не получилось распознать сумму.",
    "term": "Не получилось распознать срок.",
    "name": "Не получилось распознать имя.",
    "city": "Не получилось распознать город.",
}
_EXAMPLE = {
    "phone": "Например: +7 912 345-67-89.",
    "amount": "Например: «300 тысяч» или «1,5 млн».",
    "term": "Например: «на 2 года» или «18 месяцев».",
    "name": "Например: «Анна» или «Иван Петров».",
    "city": "Например: «Верхнегорск».",
}


def display(name: str, value: str) -> str:
    """A stored field value as a person reads it (money with spaces, a phone with groups)."""
    if name == "amount":
        number, _, currency = value.partition(" ")
        return format_money(number, currency or "RUB")
    if name == "phone" and value.startswith("+"):
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return value


_SKIP = re.compile(
    r"^\W*(?:нет|неа|пропуст\w*|пропуск|дальше|потом|позже|неважно|не\s+важно|-+|без\s+разницы|"
    r"вс[её]\s+равно|любой|любая|(?:пока\s+)?не\s+знаю(?:\s+пока)?|(?:пока\s+)?не\s+решил\w*"
    r"(?:\s+пока)?|не\s+скажу|не\s+хочу\s+говорить|затрудняюсь(?:\s+ответить)?)\W*$", re.IGNORECASE)


def _is_skip(text: str) -> bool:
    return bool(_SKIP.match(text))


def _join(prefix: str, text: str) -> str:
    return f"{prefix} {text}" if prefix else text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]

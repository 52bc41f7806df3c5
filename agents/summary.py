"""A short summary of a dialog for the manager who takes it over.

Extractive: why the customer came (their first real question), the agent's
last informative answer (one that stood on the knowledge base, not a «no
answer» or a form question), and what is left to do (the handoff reason as a
task, the lead's open fields, the customer's latest message). It never invents
anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents import intents
from agents.turn import DialogState

REASONS = {"request": "клиент попросил менеджера", "complaint": "жалоба клиента",
           "lead": "заявка заполнена — нужно связаться", "no_answer": "бот не нашёл ответа",
           "error": "ошибка обработки сообщения", "llm": "агент передал диалог",
           "blocked": "клиент заблокировал бота", "form": "бот не смог заполнить заявку"}
TODO = {"request": "ответить клиенту", "complaint": "разобраться с жалобой и ответить клиенту",
        "no_answer": "ответить на вопрос клиента", "error": "ответить клиенту вместо бота",
        "llm": "ответить клиенту", "form": "помочь клиенту закончить заявку"}
FIELD_NAMES = {"name": "имя", "phone": "телефон", "amount": "сумму", "term": "срок", "city": "город",
               "consent": "согласие на обработку данных", "confirm": "подтверждение заявки",
               "which_field": "исправление заявки"}
_LIMIT = 220


@dataclass(frozen=True)
class DialogSummary:
    """Three lines at the top of a dialog page."""

    why: str
    answered: str
    left: str


def summarize(messages: Sequence[tuple[str, str]], state: DialogState,
              handoff_reason: str | None, informative: Sequence[str] | None = None) -> DialogSummary:
    """`messages` are (author, text) pairs, oldest first; `informative` the agent's answers
    that carried information (the last agent message when not given)."""
    questions = [t for a, t in messages if a == "customer" and _is_question(t)]
    answers = list(informative) if informative else [t for a, t in messages if a == "agent"]
    why = _clip(questions[0]) if questions else "—"
    answered = _clip(answers[-1]) if answers else "—"
    left: list[str] = []
    if handoff_reason:
        reason = REASONS.get(handoff_reason, handoff_reason)
        todo = TODO.get(handoff_reason)
        left.append(f"{reason}: {todo}" if todo else reason)
    lead = state.lead
    if lead is not None and not lead.completed:
        waiting = FIELD_NAMES.get(lead.asking or "", lead.asking or "—")
        left.append(f"заявка не заполнена (ждём: {waiting})")
    elif lead is not None and handoff_reason != "lead":
        left.append("заявка заполнена — связаться с клиентом по ней")
    customer = [t for a, t in messages if a == "customer"]
    if customer and customer[-1] != (questions[0] if questions else None):
        left.append(f"последнее сообщение клиента: «{_clip(customer[-1], 120)}»")
    return DialogSummary(why, answered, "; ".join(left) or "—")


def _is_question(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("/") and not intents.is_greeting(stripped)


def _clip(text: str, limit: int = _LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

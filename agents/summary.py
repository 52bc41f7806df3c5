"""A short summary of a dialog for the manager who takes it over.

Extractive: why the customer came (their first real question), what the agent
answered last, and what is left (the handoff reason, open lead fields, the
customer's latest message). It never invents anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents import intents
from agents.turn import DialogState

REASONS = {"request": "клиент попросил менеджера", "complaint": "жалоба клиента",
           "lead": "заявка заполнена — нужно связаться", "no_answer": "бот не нашёл ответа",
           "error": "ошибка обработки сообщения", "llm": "агент передал диалог",
           "blocked": "клиент заблокировал бота"}
_LIMIT = 220


@dataclass(frozen=True)
class DialogSummary:
    """Three lines at the top of a dialog page."""

    why: str
    answered: str
    left: str


def summarize(messages: Sequence[tuple[str, str]], state: DialogState,
              handoff_reason: str | None) -> DialogSummary:
    """`messages` are (author, text) pairs, oldest first."""
    questions = [t for a, t in messages if a == "customer" and _is_question(t)]
    answers = [t for a, t in messages if a == "agent"]
    why = _clip(questions[0]) if questions else "—"
    answered = _clip(answers[-1]) if answers else "—"
    left: list[str] = []
    if handoff_reason:
        left.append(REASONS.get(handoff_reason, handoff_reason))
    lead = state.lead
    if lead is not None and not lead.completed:
        left.append(f"заявка не заполнена (ждём: {lead.asking or '—'})")
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

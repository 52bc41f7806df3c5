"""The interface every answerer implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.turn import AnswerMode, HistoryItem, Source


@dataclass(frozen=True)
class Answer:
    """An answer to one question, before the agent adds dialog decisions.

    `relevant` is False when the knowledge base had nothing on the question;
    the agent then offers a manager instead of guessing.
    """

    text: str
    mode: AnswerMode
    grounded: bool
    relevant: bool = True
    sources: tuple[Source, ...] = ()
    handoff_requested: str | None = None
    lead_fields: dict[str, str] = field(default_factory=dict)
    start_lead: bool = False
    notes: tuple[str, ...] = ()


class Answerer(Protocol):
    """Answers a customer's question in a role."""

    async def answer(self, role: Any, text: str, history: tuple[HistoryItem, ...]) -> Answer:
        """The answer to `text`, given the dialog so far."""
        ...

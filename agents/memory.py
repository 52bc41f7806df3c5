"""Dialog memory: the last turns verbatim plus a running summary.

The summary is extractive (the customer's earlier questions, newest last), so
it is the same with or without an LLM and never contains invented content.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.turn import DialogState, HistoryItem

RECENT_TURNS = 10
_SUMMARY_ITEMS = 8
_ITEM_CHARS = 120
_PREFIX = "Ранее клиент спрашивал: "


def recent(history: Sequence[HistoryItem]) -> tuple[HistoryItem, ...]:
    """The verbatim tail the answerer sees."""
    return tuple(history[-RECENT_TURNS:])


def remember(state: DialogState, customer_text: str) -> None:
    """Add a customer's question to the running summary."""
    item = " ".join(customer_text.split())[:_ITEM_CHARS]
    if not item:
        return
    items = state.summary.removeprefix(_PREFIX).split(" | ") if state.summary else []
    items = [*[i for i in items if i and i != item][-(_SUMMARY_ITEMS - 1):], item]
    state.summary = _PREFIX + " | ".join(items)

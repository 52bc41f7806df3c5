"""Moods of messages read ahead of their turns.

A message's text is known as soon as the engine has stored it, while its turn
still waits for the dialog to load (a transaction of its own). Reading the mood
then runs the embedding on a worker thread alongside that, instead of after it.
A turn takes the mood read for its exact text, or reads it itself; either way
every message gets its own reading.
"""

from __future__ import annotations

import asyncio

from agents.sentiment.classifier import Sentiment, SentimentClassifier

#: Readings kept for turns that have not asked yet. A message whose turn never asks
#: (a dialog with a manager, a text changed by masking) is forgotten behind newer ones.
LIMIT = 64


class MoodsAhead:
    """Readings started early, taken by the turn of the same text."""

    def __init__(self, classifier: SentimentClassifier) -> None:
        self.classifier = classifier
        self._started: dict[str, asyncio.Future[Sentiment | None]] = {}

    def start(self, text: str) -> None:
        """Begin reading the mood of `text` on a worker thread; call it from the event loop."""
        text = normalized(text)
        if not text or text in self._started:
            return
        while len(self._started) >= LIMIT:
            self._started.pop(next(iter(self._started)))
        reading = asyncio.ensure_future(asyncio.to_thread(self.classifier.classify, text, wait=False))
        reading.add_done_callback(_retrieve)  # a forgotten reading's error is no loose end
        self._started[text] = reading

    async def take(self, text: str) -> Sentiment | None:
        """The mood of `text`: the reading started for it, or a fresh one."""
        text = normalized(text)
        reading = self._started.pop(text, None)
        if reading is None:
            return await asyncio.to_thread(self.classifier.classify, text, wait=False)
        return await reading


def normalized(text: str) -> str:
    """The text as the agent reads it: runs of whitespace as one space."""
    return " ".join(text.split())


def _retrieve(reading: asyncio.Future[Sentiment | None]) -> None:
    if not reading.cancelled():
        reading.exception()

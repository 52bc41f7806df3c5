"""The sentiment classifier measured on held-out customer lines (none of them is an anchor).

What matters for the product is the complaint decision: an angry or
complaining line must be caught, a calm one must never be sent to the
complaints queue. The figures are printed for the record (`-s`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from agents.sentiment import SentimentClassifier
from agents.sentiment.anchors import NEGATIVE, NEUTRAL, POSITIVE

LINES = Path(__file__).parent / "sentiment_lines.yaml"


def test_held_out_lines_share_nothing_with_the_anchors() -> None:
    lines = yaml.safe_load(LINES.read_text(encoding="utf-8"))
    held_out = {line for group in lines.values() for line in group}
    assert not held_out & set(NEGATIVE + NEUTRAL + POSITIVE)


def test_complaints_are_caught_and_calm_lines_are_left_alone() -> None:
    lines: dict[str, list[str]] = yaml.safe_load(LINES.read_text(encoding="utf-8"))
    classifier = SentimentClassifier(warm_up=False)
    negative = [_negative(classifier, t) for t in lines["negative"]]
    calm = [_negative(classifier, t) for t in lines["neutral"] + lines["positive"]]
    recall = sum(negative) / len(negative)
    false_alarms = sum(calm) / len(calm)
    accuracy = (sum(negative) + len(calm) - sum(calm)) / (len(negative) + len(calm))
    print(f"complaint recall {recall:.2f}, false alarms {false_alarms:.2f}, accuracy {accuracy:.2f} "
          f"on {len(negative) + len(calm)} lines")
    assert recall >= 0.85
    assert false_alarms <= 0.05


def _negative(classifier: SentimentClassifier, text: str) -> bool:
    felt = classifier.classify(text)
    assert felt is not None
    return felt.negative

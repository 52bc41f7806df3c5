"""Score: how promising a deal is, by rules the bank configures (``leads.scoring``).

Every rule whose condition holds adds its points to the base; the sum is
clamped to 0–100. Rules read the deal's facts, never a model, so the same
deal always gets the same score and a manager can see why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from store.leads import Deal

MIN_SCORE, MAX_SCORE = 0, 100


class ScoreRule(Protocol):
    """One rule: ``field`` meets ``equals`` / ``min`` / ``max`` / ``present`` → ``points``."""

    # Read-only, so frozen settings objects (with narrower types) satisfy it.
    @property
    def field(self) -> str: ...
    @property
    def points(self) -> int: ...
    @property
    def equals(self) -> str | None: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def present(self) -> bool | None: ...


def deal_facts(deal: Deal | None = None, **values: Any) -> dict[str, object]:
    """What rules can look at: a deal's columns (``values`` override them), amounts in major units."""

    def get(name: str) -> Any:
        return values[name] if name in values else getattr(deal, name, None)

    minor = get("amount_minor")
    product = get("product")
    return {
        "product": None if product is None else str(product),
        "amount": None if minor is None else Decimal(minor) / 100,
        "currency": get("currency"),
        "term_months": get("term_months"),
        "city": get("city"),
        "channel": get("channel"),
        "role": get("role_id"),
    }


class Scorer:
    """Applies the configured rules to a deal's facts."""

    def __init__(self, base: int = 0, rules: Sequence[ScoreRule] = ()) -> None:
        """``base`` points for every deal, plus each matching rule's points."""
        self.base = base
        self.rules = tuple(rules)

    def score(self, facts: Mapping[str, object]) -> int:
        """The clamped score of a deal described by ``facts`` (see ``deal_facts``)."""
        total = self.base + sum(rule.points for rule in self.rules if matches(rule, facts.get(rule.field)))
        return max(MIN_SCORE, min(MAX_SCORE, total))


def matches(rule: ScoreRule, value: object) -> bool:
    """Whether one rule's condition holds for ``value``."""
    if rule.present is not None:
        return (value not in (None, "")) == rule.present
    if rule.equals is not None:
        return value is not None and str(value).casefold() == rule.equals.casefold()
    if value is None or isinstance(value, str | bool):
        return False
    number = Decimal(str(value))
    if rule.min is not None and number < Decimal(str(rule.min)):
        return False
    return not (rule.max is not None and number > Decimal(str(rule.max)))

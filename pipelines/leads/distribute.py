"""Distribute: which manager gets a new deal (``leads.distribution``).

- ``round_robin``: every manager in turn;
- ``by_product``: in turn among the managers who handle the deal's product
  (a manager with no products listed handles all), everyone when nobody does.

The rotation is read from the deals table (who got the last one), so every
process shares it and a restart does not reset it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from store.repositories import DealRepository

Distribution = Literal["round_robin", "by_product"]


class Manager(Protocol):
    """A manager deals can be assigned to."""

    @property
    def id(self) -> str: ...
    @property
    def products(self) -> Sequence[str]: ...


class ManagerPicker:
    """Chooses the manager of a new deal."""

    def __init__(self, mode: Distribution = "round_robin", managers: Sequence[Manager] = ()) -> None:
        """Distribute by ``mode`` among ``managers`` (none: deals stay unassigned)."""
        self.mode = mode
        self.managers = tuple(managers)

    def candidates(self, product: str) -> list[str]:
        """Managers eligible for a deal of ``product``, in configured order."""
        everyone = [m.id for m in self.managers]
        if self.mode != "by_product":
            return everyone
        chosen = [m.id for m in self.managers if not m.products or product in m.products]
        return chosen or everyone

    async def pick(self, session: AsyncSession, product: str) -> str | None:
        """The next eligible manager after the one who got the last deal."""
        candidates = self.candidates(product)
        if not candidates:
            return None
        last = await DealRepository(session).last_manager(candidates)
        if last is None:
            return candidates[0]
        return candidates[(candidates.index(last) + 1) % len(candidates)]

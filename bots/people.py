"""The customers' personal data the LLM answerer must never hand to someone else.

Reads names and phones of the deal store's contacts (erased ones are
tombstones with neither) and keeps them for a short while, so a busy turn
does not query the database each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import col

from agents.people import PersonalData
from store import Database
from store.leads import Contact

CACHE_S = 30.0


class StoreDirectory:
    """`agents.people.PersonalDirectory` backed by the contacts table."""

    def __init__(self, db: Database, cache_s: float = CACHE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.cache_s = cache_s
        self.clock = clock
        self._cached: PersonalData | None = None
        self._at = 0.0

    async def personal_data(self) -> PersonalData:
        """Every contact's name and phone, at most `cache_s` old."""
        if self._cached is not None and self.clock() - self._at < self.cache_s:
            return self._cached
        async with self.db.session() as session:
            rows = (await session.execute(
                sa.select(col(Contact.name), col(Contact.phone)).where(col(Contact.erased_at).is_(None))
            )).all()
        self._cached = PersonalData(frozenset(n for n, _ in rows if n), frozenset(p for _, p in rows if p))
        self._at = self.clock()
        return self._cached

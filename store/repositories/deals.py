"""Deals: applications for a product, moving through the funnel stages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col

from store.errors import InvalidFieldError
from store.leads import OPEN_STAGES, STAGE_MOVES, Deal, DealStage, Product
from store.types import utc_now

#: Fields ``apply`` may change; the contact, product and ``created_at`` are fixed for life.
UPDATABLE_FIELDS = frozenset(
    {
        "amount_minor",
        "currency",
        "term_months",
        "city",
        "channel",
        "role_id",
        "score",
        "manager",
        "dialog_id",
        "consent_id",
        "details",
    }
)


class StageMoveError(InvalidFieldError):
    """A deal was asked to move to a stage its current stage does not lead to."""


class DealRepository:
    """Deals, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def get(self, deal_id: int) -> Deal | None:
        """The deal with this id, if any."""
        return await self._session.get(Deal, deal_id)

    async def add(self, contact_id: int, product: Product | str, **fields: Any) -> Deal:
        """Open a deal at stage ``new`` (or the given ``stage``), version 1."""
        unknown = set(fields) - UPDATABLE_FIELDS - {"stage"}
        if unknown:
            raise InvalidFieldError(f"unknown deal fields: {sorted(unknown)}")
        now = utc_now()
        deal = Deal(contact_id=contact_id, product=Product(product), created_at=now, updated_at=now,
                    **fields)
        deal.stage = DealStage(deal.stage)
        if deal.stage == DealStage.QUALIFIED:
            deal.qualified_at = now
        self._session.add(deal)
        await self._session.flush()
        return deal

    async def open_for(self, contact_id: int, product: Product | str) -> Deal | None:
        """The newest open deal of a contact for a product, locked for update."""
        query = (
            sa.select(Deal)
            .where(
                col(Deal.contact_id) == contact_id,
                col(Deal.product) == Product(product),
                col(Deal.stage).in_(OPEN_STAGES),
            )
            .order_by(col(Deal.id).desc())
            .limit(1)
            .with_for_update()
        )
        return (await self._session.scalars(query)).first()

    async def apply(self, deal: Deal, changes: dict[str, Any], *, versioned: bool = True) -> bool:
        """Set the fields that differ (``stage`` included); return whether any did.

        A change bumps ``version`` unless ``versioned`` is false (bookkeeping such
        as which dialog the deal was last seen in). The version is what makes a
        CRM event of a later change recognisably newer, so unchanged data (a
        dialog replayed) changes nothing and sends nothing. A stage move the
        funnel does not allow raises ``StageMoveError``.
        """
        unknown = set(changes) - UPDATABLE_FIELDS - {"stage"}
        if unknown:
            raise InvalidFieldError(f"deal fields that cannot be updated: {sorted(unknown)}")
        changed = {k: v for k, v in changes.items() if getattr(deal, k) != v}
        if not changed:
            return False
        now = utc_now()
        if "stage" in changed:
            _check_move(deal, DealStage(changed["stage"]), now)
        self._session.add(deal)
        for name, value in changed.items():
            setattr(deal, name, value)
            if name == "details":
                flag_modified(deal, name)
        if versioned:
            deal.version += 1
        deal.updated_at = now
        await self._session.flush()
        return True

    async def bump(self, deal: Deal) -> None:
        """Count a change made elsewhere (the contact's name) as a new version of the deal."""
        self._session.add(deal)
        deal.version += 1
        deal.updated_at = utc_now()
        await self._session.flush()

    async def move(self, deal: Deal, stage: DealStage | str) -> bool:
        """Move a deal to ``stage``; ``False`` if it is there already.

        Raises ``StageMoveError`` for a move the funnel does not allow
        (new → qualified → in_work → won / lost; lost from any open stage).
        """
        return await self.apply(deal, {"stage": DealStage(stage)})

    async def find(self, stage: DealStage | str | None = None, limit: int | None = None) -> list[Deal]:
        """Deals, newest first; only those at ``stage`` when given."""
        query = sa.select(Deal).order_by(col(Deal.id).desc())
        if stage is not None:
            query = query.where(col(Deal.stage) == DealStage(stage))
        if limit is not None:
            query = query.limit(limit)
        return list((await self._session.scalars(query)).all())

    async def of_contacts(self, contact_ids: Iterable[int]) -> list[Deal]:
        """Every deal of these contacts, oldest first."""
        ids = list(contact_ids)
        if not ids:
            return []
        query = sa.select(Deal).where(col(Deal.contact_id).in_(ids)).order_by(col(Deal.id))
        return list((await self._session.scalars(query)).all())

    async def contacts_of_dialogs(self, dialog_ids: Iterable[int]) -> set[int]:
        """Ids of the contacts whose deals came from these dialogs."""
        ids = list(dialog_ids)
        if not ids:
            return set()
        query = sa.select(col(Deal.contact_id)).where(col(Deal.dialog_id).in_(ids))
        return set((await self._session.scalars(query)).all())

    async def last_manager(self, managers: Sequence[str]) -> str | None:
        """Which of ``managers`` got the most recent deal: where round-robin goes on from.

        Read from the table rather than kept in memory, so every process shares
        one rotation and a restart does not start it over.
        """
        if not managers:
            return None
        query = (
            sa.select(col(Deal.manager))
            .where(col(Deal.manager).in_(list(managers)))
            .order_by(col(Deal.id).desc())
            .limit(1)
        )
        return (await self._session.scalars(query)).first()


def _check_move(deal: Deal, target: DealStage, now: datetime) -> None:
    """Refuse a move the funnel does not allow; stamp the qualifying and closing times."""
    if target not in STAGE_MOVES[DealStage(deal.stage)]:
        raise StageMoveError(f"deal {deal.id}: cannot move from {deal.stage} to {target}")
    if target == DealStage.QUALIFIED:
        deal.qualified_at = now
    if target in (DealStage.WON, DealStage.LOST):
        deal.closed_at = now

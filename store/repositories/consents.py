"""Consent records: when a customer agreed to which version of the processing text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.leads import ConsentRecord
from store.repositories._sql import execute_rowcount
from store.types import utc_now


class ConsentRepository:
    """Consent records, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def add(
        self,
        channel: str,
        text_version: str,
        *,
        dialog_id: int | None = None,
        message_id: int | None = None,
        contact_id: int | None = None,
        given_at: datetime | None = None,
    ) -> ConsentRecord:
        """Record an agreement; the contact is usually linked later, with the lead."""
        record = ConsentRecord(
            channel=channel,
            text_version=text_version,
            dialog_id=dialog_id,
            message_id=message_id,
            contact_id=contact_id,
            given_at=given_at or utc_now(),
        )
        self._session.add(record)
        await self._session.flush()
        return record

    async def get(self, record_id: int) -> ConsentRecord | None:
        """The record with this id, if any."""
        return await self._session.get(ConsentRecord, record_id)

    async def latest_for_dialog(self, dialog_id: int) -> ConsentRecord | None:
        """The newest consent given in a dialog and not withdrawn."""
        query = (
            sa.select(ConsentRecord)
            .where(col(ConsentRecord.dialog_id) == dialog_id, col(ConsentRecord.withdrawn_at).is_(None))
            .order_by(col(ConsentRecord.id).desc())
            .limit(1)
        )
        return (await self._session.scalars(query)).first()

    async def link(self, record: ConsentRecord, contact_id: int) -> None:
        """Attach a consent to the contact it was given for."""
        if record.contact_id == contact_id:
            return
        self._session.add(record)
        record.contact_id = contact_id
        await self._session.flush()

    async def withdraw(self, *, dialog_ids: Iterable[int] = (), contact_ids: Iterable[int] = ()) -> int:
        """Mark every consent of these dialogs or contacts withdrawn; return how many."""
        dialogs, contacts = list(dialog_ids), list(contact_ids)
        if not dialogs and not contacts:
            return 0
        statement = (
            sa.update(ConsentRecord)
            .where(
                sa.or_(
                    col(ConsentRecord.dialog_id).in_(dialogs),
                    col(ConsentRecord.contact_id).in_(contacts),
                ),
                col(ConsentRecord.withdrawn_at).is_(None),
            )
            .values(withdrawn_at=utc_now())
        )
        return await execute_rowcount(self._session, statement)

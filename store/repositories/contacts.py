"""Contacts: one row per phone number, with the messenger accounts that belong to it."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.errors import StoreError
from store.leads import Contact, ContactIdentity
from store.repositories._sql import execute_rowcount, insert_ignoring_conflicts
from store.types import utc_now


class ContactRepository:
    """Contacts and their identities, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def get(self, contact_id: int) -> Contact | None:
        """The contact with this id, if any."""
        return await self._session.get(Contact, contact_id)

    async def many(self, contact_ids: Iterable[int]) -> dict[int, Contact]:
        """The contacts with these ids, by id."""
        ids = list(contact_ids)
        if not ids:
            return {}
        found = await self._session.scalars(sa.select(Contact).where(col(Contact.id).in_(ids)))
        return {c.id: c for c in found.all() if c.id is not None}

    async def by_phone(self, phone: str) -> Contact | None:
        """The contact with this E.164 phone, if any."""
        query = sa.select(Contact).where(col(Contact.phone) == phone)
        return (await self._session.scalars(query)).first()

    async def upsert(self, phone: str, name: str | None) -> tuple[Contact, bool]:
        """The contact of ``phone`` (created if new), its name updated; and whether it changed.

        Safe under concurrency like ``DialogRepository.get_or_create``. The row is
        then locked (PostgreSQL; SQLite has one writer anyway), so two dialogs of
        one customer finishing at once do not both open a deal for it.
        """
        now = utc_now()
        values = {"phone": phone, "name": name, "created_at": now, "updated_at": now}
        inserted = await self._session.execute(
            insert_ignoring_conflicts(self._session, Contact, values, ["phone"])
        )
        created = inserted.scalar_one_or_none() is not None
        query = (
            sa.select(Contact)
            .where(col(Contact.phone) == phone)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        contact = (await self._session.scalars(query)).first()
        if contact is None:  # only if the row was erased in between
            raise StoreError("contact vanished while being created")
        if created or not name or contact.name == name:
            return contact, created
        contact.name, contact.updated_at = name, now
        self._session.add(contact)
        await self._session.flush()
        return contact, True

    async def link_identity(self, contact_id: int, channel: str, user_ref: str) -> None:
        """Point the messenger account ``(channel, user_ref)`` at this contact.

        An account that gave another phone before moves to the new contact: the
        account is the customer's, the phone is what they want to be called on.
        """
        values = {
            "contact_id": contact_id,
            "channel": channel,
            "user_ref": user_ref,
            "created_at": utc_now(),
        }
        await self._session.execute(
            insert_ignoring_conflicts(
                self._session, ContactIdentity, values, ["channel", "user_ref"]
            )
        )
        await self._session.execute(
            sa.update(ContactIdentity)
            .where(
                col(ContactIdentity.channel) == channel,
                col(ContactIdentity.user_ref) == user_ref,
                col(ContactIdentity.contact_id) != contact_id,
            )
            .values(contact_id=contact_id)
        )

    async def by_identity(self, channel: str, user_ref: str) -> Contact | None:
        """The contact a messenger account belongs to, if any."""
        query = (
            sa.select(Contact)
            .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
            .where(col(ContactIdentity.channel) == channel, col(ContactIdentity.user_ref) == user_ref)
        )
        return (await self._session.scalars(query)).first()

    async def identities(self, contact_ids: Iterable[int]) -> list[ContactIdentity]:
        """Every messenger account of these contacts."""
        ids = list(contact_ids)
        if not ids:
            return []
        query = (
            sa.select(ContactIdentity)
            .where(col(ContactIdentity.contact_id).in_(ids))
            .order_by(col(ContactIdentity.id))
        )
        return list((await self._session.scalars(query)).all())

    async def erase(self, contact_ids: Iterable[int]) -> int:
        """Clear name and phone, drop the accounts, keep the rows as tombstones; return how many."""
        ids = list(contact_ids)
        if not ids:
            return 0
        now = utc_now()
        await self._session.execute(
            sa.delete(ContactIdentity).where(col(ContactIdentity.contact_id).in_(ids))
        )
        statement = (
            sa.update(Contact)
            .where(col(Contact.id).in_(ids))
            .values(name=None, phone=None, erased_at=now, updated_at=now)
        )
        return await execute_rowcount(self._session, statement)

    async def forget_identity(self, channel: str, user_ref: str) -> int:
        """Drop one messenger account's link to its contact; return how many rows went."""
        statement = sa.delete(ContactIdentity).where(
            col(ContactIdentity.channel) == channel, col(ContactIdentity.user_ref) == user_ref
        )
        return await execute_rowcount(self._session, statement)

"""Contacts: the people behind messenger accounts; a phone is their attribute, never their key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.errors import StoreError
from store.leads import ConsentRecord, Contact, ContactIdentity, Deal
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

    async def with_phone(self, phone: str) -> list[Contact]:
        """The live contacts that gave this E.164 phone (several people may share one)."""
        query = (
            sa.select(Contact)
            .where(col(Contact.phone) == phone, col(Contact.erased_at).is_(None),
                   col(Contact.merged_into_id).is_(None))
            .order_by(col(Contact.id))
        )
        return list((await self._session.scalars(query)).all())

    async def of_identity(
        self, channel: str, user_ref: str, phone: str | None, name: str | None, *,
        phone_verified: bool = False,
    ) -> tuple[Contact, bool]:
        """The contact of the account ``(channel, user_ref)``, created with it if new.

        The phone and name given are the account's own to change: they update
        this contact only. They never select another contact, however equal the
        phone: a number typed in a chat proves nothing about who owns it. Returns
        the contact (locked for update, so two dialogs of one account finishing
        at once do not both open a deal) and whether it was created or changed.
        ``phone_verified`` says the messenger proved the phone is the account's own;
        the mark goes when the phone changes to one it did not prove.
        """
        verified_at = utc_now() if phone_verified and phone else None
        contact = await self._of_identity_locked(channel, user_ref)
        if contact is None:
            contact = await self._create_for(channel, user_ref, phone, name, verified_at)
            if contact is not None:
                return contact, True
            contact = await self._of_identity_locked(channel, user_ref)
            if contact is None:  # only if the account was erased in between
                raise StoreError("contact vanished while being created")
        return contact, await self._refresh(contact, phone, name, verified_at)

    async def _of_identity_locked(self, channel: str, user_ref: str) -> Contact | None:
        query = (
            sa.select(Contact)
            .join(ContactIdentity, col(ContactIdentity.contact_id) == col(Contact.id))
            .where(col(ContactIdentity.channel) == channel, col(ContactIdentity.user_ref) == user_ref)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(query)).first()

    async def _create_for(
        self, channel: str, user_ref: str, phone: str | None, name: str | None,
        verified_at: datetime | None,
    ) -> Contact | None:
        """A new contact bound to the account; None when a concurrent transaction bound one first."""
        now = utc_now()
        contact = Contact(phone=phone, name=name, created_at=now, updated_at=now,
                          phone_verified_at=verified_at)
        self._session.add(contact)
        await self._session.flush()
        values = {"contact_id": contact.id, "channel": channel, "user_ref": user_ref,
                  "created_at": now}
        inserted = await self._session.execute(
            insert_ignoring_conflicts(self._session, ContactIdentity, values, ["channel", "user_ref"])
        )
        if inserted.scalar_one_or_none() is not None:
            return contact
        await self._session.delete(contact)
        await self._session.flush()
        return None

    async def _refresh(self, contact: Contact, phone: str | None, name: str | None,
                       verified_at: datetime | None) -> bool:
        """Apply the account's new phone and name; whether either changed."""
        changes = {k: v for k, v in (("phone", phone), ("name", name)) if v and getattr(contact, k) != v}
        if "phone" in changes:
            contact.phone_verified_at = verified_at
        elif verified_at is not None and contact.phone_verified_at is None:
            contact.phone_verified_at = verified_at  # the same number, now proven
        for key, value in changes.items():
            setattr(contact, key, value)
        if changes:
            contact.updated_at = utc_now()
        self._session.add(contact)
        await self._session.flush()
        return bool(changes)

    async def add_identity(self, contact_id: int, channel: str, user_ref: str) -> bool:
        """Bind an account that has no contact yet to this one; False if it already has one.

        An account bound elsewhere never moves silently: that takes ``merge``.
        """
        values = {"contact_id": contact_id, "channel": channel, "user_ref": user_ref,
                  "created_at": utc_now()}
        inserted = await self._session.execute(
            insert_ignoring_conflicts(self._session, ContactIdentity, values, ["channel", "user_ref"])
        )
        return inserted.scalar_one_or_none() is not None

    async def merge(self, source_id: int, target_id: int) -> Contact:
        """Join contact ``source_id`` into ``target_id``: accounts, deals and consents move.

        The source stays as a row pointing at the target, its personal fields
        cleared. Only for a manager's explicit, audited decision.
        """
        if source_id == target_id:
            raise StoreError("a contact cannot be merged into itself")
        contacts = await self.many([source_id, target_id])
        source, target = contacts.get(source_id), contacts.get(target_id)
        if source is None or target is None or source.erased_at or target.erased_at:
            raise StoreError("both contacts must exist and not be erased")
        if source.merged_into_id is not None or target.merged_into_id is not None:
            raise StoreError("a merged contact cannot be merged again")
        for statement in (
            sa.update(ContactIdentity).where(col(ContactIdentity.contact_id) == source_id),
            sa.update(Deal).where(col(Deal.contact_id) == source_id),
            sa.update(ConsentRecord).where(col(ConsentRecord.contact_id) == source_id),
        ):
            await self._session.execute(statement.values(contact_id=target_id))
        now = utc_now()
        target.name, target.phone = target.name or source.name, target.phone or source.phone
        source.name, source.phone, source.merged_into_id, source.updated_at = None, None, target_id, now
        target.updated_at = now
        self._session.add_all([source, target])
        await self._session.flush()
        return target

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

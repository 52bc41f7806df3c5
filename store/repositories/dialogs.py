"""Dialogs: one row per conversation, keyed by ``(channel, dialog_key)``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col

from store.errors import InvalidFieldError, StoreError
from store.models import Dialog, DialogStatus
from store.repositories._sql import dialect_insert
from store.types import utc_now

#: Fields ``update`` may change; ids, keys and ``created_at`` are fixed for life.
UPDATABLE_FIELDS = frozenset(
    {
        "user_ref",
        "role_id",
        "status",
        "handoff_reason",
        "assigned_to",
        "summary",
        "state",
        "last_message_at",
    }
)
_JSON_FIELDS = frozenset({"state"})


class DialogRepository:
    """Dialogs, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def get_or_create(
        self, channel: str, dialog_key: str, user_ref: str, role_id: str
    ) -> Dialog:
        """The dialog for ``(channel, dialog_key)``, created with status ``bot`` if new.

        Safe under concurrency: the insert ignores a conflicting row, so of any
        number of simultaneous callers exactly one creates it and all get it.
        ``user_ref`` and ``role_id`` only apply when the dialog is created.
        """
        found = await self.by_key(channel, dialog_key)
        if found is not None:
            return found
        # The inserted row comes back whole (no second SELECT); a conflict returns nothing.
        insert = (
            dialect_insert(self._session, Dialog)
            .values(**_new_dialog(channel, dialog_key, user_ref, role_id))
            .on_conflict_do_nothing(index_elements=["channel", "dialog_key"])
            .returning(Dialog)
        )
        created = (await self._session.scalars(insert)).first()
        if created is None:  # another caller created it first
            created = await self.by_key(channel, dialog_key)
        if created is None:  # only if the row was deleted in between
            raise StoreError(f"dialog {channel}/{dialog_key} vanished while being created")
        return created

    async def get(self, dialog_id: int) -> Dialog | None:
        """The dialog with this id, if any."""
        return await self._session.get(Dialog, dialog_id)

    async def by_key(self, channel: str, dialog_key: str) -> Dialog | None:
        """The dialog for ``(channel, dialog_key)``, if any."""
        query = sa.select(Dialog).where(
            col(Dialog.channel) == channel, col(Dialog.dialog_key) == dialog_key
        )
        return (await self._session.scalars(query)).first()

    async def update(self, dialog: Dialog, **fields: Any) -> Dialog:
        """Change the given fields (see ``UPDATABLE_FIELDS``), touch ``updated_at``, flush.

        ``state`` may be passed as the same dict mutated in place: it is flagged
        as changed, since the ORM cannot see changes inside a JSON value.
        """
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidFieldError(f"dialog fields that cannot be updated: {sorted(unknown)}")
        self._session.add(dialog)
        for name, value in fields.items():
            setattr(dialog, name, value)
            if name in _JSON_FIELDS:
                flag_modified(dialog, name)
        dialog.updated_at = utc_now()
        await self._session.flush()
        return dialog

    async def move(self, dialog: Dialog, channel: str, dialog_key: str, *, user_ref: str) -> bool:
        """Carry a dialog over to another channel's key, history and all; False if it moved meanwhile.

        The one change of a dialog's key: a customer of a channel where personal
        data may not be collected follows a one-time link to a lawful channel.
        The update names the key it moves from, so of two processes redeeming the
        same link at once only one succeeds. The new key must not have a dialog yet.
        """
        assert dialog.id is not None
        moved = await self._session.execute(
            sa.update(Dialog)
            .where(col(Dialog.id) == dialog.id, col(Dialog.channel) == dialog.channel,
                   col(Dialog.dialog_key) == dialog.dialog_key)
            .values(channel=channel, dialog_key=dialog_key, user_ref=user_ref, updated_at=utc_now())
            .execution_options(synchronize_session=False))
        if getattr(moved, "rowcount", 0) != 1:
            return False
        await self._session.refresh(dialog)
        return True

    async def list_by_status(self, status: DialogStatus | str) -> list[Dialog]:
        """Dialogs in ``status``, least recently changed first (the manager queue order)."""
        query = (
            sa.select(Dialog)
            .where(col(Dialog.status) == DialogStatus(status))
            .order_by(col(Dialog.updated_at), col(Dialog.id))
        )
        return list((await self._session.scalars(query)).all())


def _new_dialog(channel: str, dialog_key: str, user_ref: str, role_id: str) -> dict[str, Any]:
    # A core INSERT does not run the model's Python defaults, so spell them out.
    now = utc_now()
    return {
        "channel": channel,
        "dialog_key": dialog_key,
        "user_ref": user_ref,
        "role_id": role_id,
        "status": DialogStatus.BOT,
        "summary": "",
        "state": {},
        "created_at": now,
        "updated_at": now,
    }

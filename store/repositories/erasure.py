"""Erasing what a customer wrote (and was told) from the conversation tables.

Rows stay, so ids, counts and the order of a dialog survive; their text and the
payloads that quote it are replaced. Used by the right to be forgotten and by
the consent rule (nothing personal before the customer agrees).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from store.models import Dialog, InboxItem, InboxStatus, Message, OutboxItem, OutboxStatus
from store.repositories._sql import execute_rowcount

#: What is kept of an erased message's text.
ERASED_TEXT = "[удалено по запросу клиента]"
CANCELLED = "cancelled: the customer's personal data was erased"

# Keys of a stored message payload (inbound or outbound) that can quote the customer.
_INBOUND_BLANK: dict[str, Any] = {"text": "", "attachments": [], "raw": {}}
_OUTBOUND_BLANK: dict[str, Any] = {"quick_replies": [], "sources": [], "meta": {}}


def blank_inbound(payload: dict[str, Any]) -> dict[str, Any]:
    """An inbound payload with its text, attachments and raw update emptied, still readable."""
    return {**payload, **{k: v for k, v in _INBOUND_BLANK.items() if k in payload}}


def blank_outbound(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbound payload whose text says it was erased, still readable."""
    blank = {k: v for k, v in _OUTBOUND_BLANK.items() if k in payload}
    return {**payload, **blank, "text": ERASED_TEXT}


class ErasureRepository:
    """Erasure of conversation data, within the transaction of the session it is given."""

    def __init__(self, session: AsyncSession) -> None:
        """Work in ``session``; the caller commits or rolls back."""
        self._session = session

    async def dialogs_of_user(self, channel: str, user_ref: str) -> list[Dialog]:
        """Every dialog a messenger account has had in its channel."""
        query = (
            sa.select(Dialog)
            .where(col(Dialog.channel) == channel, col(Dialog.user_ref) == user_ref)
            .order_by(col(Dialog.id))
        )
        return list((await self._session.scalars(query)).all())

    async def dialogs(self, dialog_ids: Iterable[int]) -> list[Dialog]:
        """The dialogs with these ids."""
        ids = list(dialog_ids)
        if not ids:
            return []
        query = sa.select(Dialog).where(col(Dialog.id).in_(ids)).order_by(col(Dialog.id))
        return list((await self._session.scalars(query)).all())

    async def blank_messages(self, dialog_ids: Iterable[int]) -> int:
        """Replace the text (transcripts included) and metadata of every message of the dialogs."""
        ids = list(dialog_ids)
        if not ids:
            return 0
        statement = (
            sa.update(Message).where(col(Message.dialog_id).in_(ids)).values(text=ERASED_TEXT, meta={})
        )
        return await execute_rowcount(self._session, statement)

    async def reset_dialogs(self, dialog_ids: Iterable[int]) -> int:
        """Forget the dialogs' state (the lead form's answers) and summary."""
        ids = list(dialog_ids)
        if not ids:
            return 0
        statement = sa.update(Dialog).where(col(Dialog.id).in_(ids)).values(state={}, summary="")
        return await execute_rowcount(self._session, statement)

    async def inbox_payloads(self, keys: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The stored payloads of the dialogs' inbound messages (to find kept recordings)."""
        conditions = _keyed(InboxItem, keys)
        if conditions is None:
            return []
        rows = await self._session.scalars(sa.select(col(InboxItem.payload)).where(conditions))
        return [dict(payload or {}) for payload in rows.all()]

    async def message_metas(self, dialog_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The metadata of the dialogs' messages (a voice note's transcript names its recording)."""
        ids = list(dialog_ids)
        if not ids:
            return []
        rows = await self._session.scalars(
            sa.select(col(Message.meta)).where(col(Message.dialog_id).in_(ids)))
        return [dict(meta or {}) for meta in rows.all()]

    async def blank_inbox(self, keys: Iterable[tuple[str, str]], also_id: int | None = None) -> int:
        """Empty the payloads of the dialogs' processed inbox items (and of ``also_id``).

        Items still pending are left alone: they are later messages, not yet
        answered, and the engine needs them to answer.
        """
        conditions = _keyed(InboxItem, keys)
        if conditions is None:
            return 0
        settled = col(InboxItem.status) != InboxStatus.PENDING
        if also_id is not None:
            settled = sa.or_(settled, col(InboxItem.id) == also_id)
        rows = await self._session.execute(
            sa.select(col(InboxItem.id), col(InboxItem.payload)).where(conditions, settled)
        )
        return await self._rewrite(InboxItem, rows.all(), blank_inbound)

    async def blank_outbox(self, keys: Iterable[tuple[str, str]]) -> int:
        """Blank the replies and notifications queued for the dialogs; cancel undelivered ones."""
        conditions = _keyed(OutboxItem, keys)
        if conditions is None:
            return 0
        await self._session.execute(
            sa.update(OutboxItem)
            .where(conditions, col(OutboxItem.status) == OutboxStatus.PENDING)
            .values(status=OutboxStatus.DEAD, last_error=CANCELLED)
        )
        rows = await self._session.execute(
            sa.select(col(OutboxItem.id), col(OutboxItem.payload)).where(conditions)
        )
        return await self._rewrite(OutboxItem, rows.all(), blank_outbound)

    async def replace_inbox_payload(self, item_id: int, payload: dict[str, Any]) -> None:
        """Store ``payload`` instead of what the channel delivered (a redacted copy)."""
        await self._session.execute(
            sa.update(InboxItem).where(col(InboxItem.id) == item_id).values(payload=payload)
        )

    async def _rewrite(self, model: Any, rows: Any, blank: Any) -> int:
        for row_id, payload in rows:
            await self._session.execute(
                sa.update(model).where(model.id == row_id).values(payload=blank(dict(payload or {})))
            )
        return len(rows)


def _keyed(model: Any, keys: Iterable[tuple[str, str]]) -> Any:
    """``(channel, dialog_key) IN (...)`` as an OR of pairs (portable to every backend)."""
    pairs = sorted(set(keys))
    if not pairs:
        return None
    return sa.or_(
        *(sa.and_(model.channel == channel, model.dialog_key == key) for channel, key in pairs)
    )

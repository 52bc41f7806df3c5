"""What managers do with handed-off dialogs, from any console or messenger.

Every action is one transaction. A manager's reply is deduplicated through the
inbox like any inbound message (a repeated Telegram update is dropped), stored
as a message and queued to the customer's own channel. Handing a dialog back to
the agent resets the failed-answer counter, so it does not bounce straight back
to the queue.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.turn import DialogState
from bots.messages import OutboundMessage
from store.db import Database
from store.models import Author, Dialog, DialogStatus, Direction
from store.repositories import DialogRepository, InboxRepository, MessageRepository, OutboxRepository

BACK_TO_BOT_TEXT = "Менеджер завершил консультацию. Если появятся вопросы — пишите, я на связи."
CLOSED_TEXT = "Диалог закрыт. Спасибо за обращение! Если появятся вопросы — просто напишите."


class HandoffError(Exception):
    """A manager action that cannot be done (unknown or closed dialog)."""


class HandoffService:
    """Manager actions on dialogs: take, reply, return to the agent, close."""

    def __init__(self, db: Database, on_outbox: Callable[[], None] | None = None) -> None:
        self.db = db
        self.on_outbox = on_outbox

    async def take(self, dialog_id: int, manager: str) -> Dialog:
        """Assign the dialog to `manager`; the agent stays silent while it is taken."""
        async with self.db.transaction() as session:
            repo = DialogRepository(session)
            dialog = await self._open(repo, dialog_id)
            return await repo.update(dialog, status=DialogStatus.MANAGER, assigned_to=manager)

    async def reply(self, dialog_id: int, text: str, manager: str, *, source: str = "console",
                    external_id: str | None = None) -> bool:
        """Store the manager's message and queue it to the customer; False if a duplicate."""
        text = text.strip()
        if not text:
            raise HandoffError("Пустое сообщение не отправлено.")
        async with self.db.transaction() as session:
            repo = DialogRepository(session)
            dialog = await self._open(repo, dialog_id)
            if not await _first_delivery(session, source, external_id, dialog_id):
                return False
            await self._say(session, dialog, text, Author.MANAGER, {"manager": manager})
            await repo.update(dialog, status=DialogStatus.MANAGER, assigned_to=dialog.assigned_to or manager)
        self._wake()
        return True

    async def back_to_bot(self, dialog_id: int, manager: str, *, source: str = "console",
                          external_id: str | None = None) -> Dialog | None:
        """Return the dialog to the agent, with a short note to the customer; None if a repeat."""
        async with self.db.transaction() as session:
            repo = DialogRepository(session)
            dialog = await self._open(repo, dialog_id)
            if not await _first_delivery(session, source, external_id, dialog_id):
                return None
            state = DialogState.from_json(dialog.state)
            state.failed_answers = 0
            state.handed_back_at_turn = state.turns
            await self._say(session, dialog, BACK_TO_BOT_TEXT, Author.SYSTEM, {"manager": manager})
            dialog = await repo.update(dialog, status=DialogStatus.BOT, handoff_reason=None,
                                       assigned_to=None, state=state.to_json())
        self._wake()
        return dialog

    async def close(self, dialog_id: int, manager: str, *, source: str = "console",
                    external_id: str | None = None) -> Dialog | None:
        """Close the dialog (the next message starts afresh); None if a repeated delivery."""
        async with self.db.transaction() as session:
            repo = DialogRepository(session)
            if external_id is not None:
                found = await repo.get(dialog_id)
                if found is not None and not await _first_delivery(session, source, external_id, dialog_id):
                    return None
            dialog = await self._open(repo, dialog_id)
            await self._say(session, dialog, CLOSED_TEXT, Author.SYSTEM, {"manager": manager})
            dialog = await repo.update(dialog, status=DialogStatus.CLOSED, handoff_reason=None)
        self._wake()
        return dialog

    async def _open(self, repo: DialogRepository, dialog_id: int) -> Dialog:
        dialog = await repo.get(dialog_id)
        if dialog is None:
            raise HandoffError(f"Диалог {dialog_id} не найден.")
        if dialog.status == DialogStatus.CLOSED:
            raise HandoffError(f"Диалог {dialog_id} уже закрыт.")
        return dialog

    async def _say(self, session: object, dialog: Dialog, text: str, author: Author,
                   meta: dict[str, object]) -> None:
        assert dialog.id is not None
        await MessageRepository(session).add(dialog.id, Direction.OUT, author, text, meta)  # type: ignore[arg-type]
        out = OutboundMessage(channel=dialog.channel, dialog_key=dialog.dialog_key, text=text,
                              author="manager" if author == Author.MANAGER else "system")
        await OutboxRepository(session).add(dialog.channel, dialog.dialog_key, out.to_payload())  # type: ignore[arg-type]

    def _wake(self) -> None:
        if self.on_outbox:
            self.on_outbox()


async def _first_delivery(session: object, source: str, external_id: str | None, dialog_id: int) -> bool:
    """Record a manager's update in the inbox; False when it was delivered before."""
    if external_id is None:
        return True
    inbox = InboxRepository(session)  # type: ignore[arg-type]
    inbox_id = await inbox.add(source, external_id, str(dialog_id), {"manager_action": True})
    if inbox_id is None:
        return False
    await inbox.mark_done(inbox_id)
    return True

"""The managers' desk in a Telegram forum supergroup (`managers_chat_id`).

Each handed-off dialog gets its own forum topic with the transcript so far and
the lead card; the customer's further messages appear in it. A manager's
message in the topic goes to the customer through the dialog's own channel;
`/bot` returns the dialog to the agent, `/close` closes it.

The forum lives in a foreign messenger: nothing personal is posted there.
Phones, card numbers and names are masked in every post and the lead card
shows only non-personal fields; managers see the rest in the console.

Notifications arrive through the outbox (channel `telegram_managers`), so a
handoff is retried until the forum has it — it never silently fails.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import Command
from aiogram.types import Message, Update

from agents.leadform import PERSONAL_FIELDS
from agents.turn import DialogState
from bots.channels.base import Channel, DeliveryError
from bots.channels.ratelimit import SendPacer
from bots.channels.telegram_format import split_text
from bots.handoff import HandoffError, HandoffService
from bots.messages import OutboundMessage
from knowledge.ru.sensitive import redact
from store.db import Database
from store.models import Dialog, DialogStatus
from store.repositories import DialogRepository, MessageRepository

log = logging.getLogger(__name__)

NAME = "telegram_managers"
REASONS = {"request": "просит менеджера", "complaint": "жалоба", "lead": "новая заявка",
           "no_answer": "бот не нашёл ответа", "error": "ошибка обработки", "llm": "по решению агента"}
AUTHORS = {"customer": "👤 Клиент", "agent": "🤖 Бот", "manager": "👩‍💼 Менеджер", "system": "ℹ️"}
TRANSCRIPT_MESSAGES = 20

#: A handoff action on one dialog: (dialog id, manager's name, source=..., external_id=...).
DialogAction = Callable[..., Awaitable[Any]]


class TelegramManagersDesk(Channel):
    """Posts handoffs into forum topics and turns managers' messages into actions."""

    name = NAME
    managers_desk = True

    def __init__(self, bot: Bot, chat_id: int, db: Database, handoff: HandoffService,
                 limiter: SendPacer) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.db = db
        self.handoff = handoff
        self.limiter = limiter

    async def send(self, message: OutboundMessage) -> None:
        """A handoff card or a customer's message, into the dialog's topic."""
        dialog = await self._dialog(int(message.dialog_key))
        if dialog is None:
            return
        thread = await self._topic(dialog)
        if message.meta.get("kind") == "customer":
            text = redact(message.text, _personal_values(dialog))
            await self._post(thread, f"{AUTHORS['customer']}: {html.escape(text)}")
        else:
            await self._post(thread, await self._card(dialog))

    def router(self) -> Router:
        """aiogram handlers for managers' messages in the forum's topics: /bot, /close, or a reply.

        A fresh router each time (a router can be attached to one dispatcher only).
        `/bot@OurBot` counts as `/bot`; a message without text (a sticker) is not relayed.
        """
        router = Router(name=NAME)
        router.message.filter(F.chat.id == self.chat_id, F.message_thread_id, F.text)
        commands = {"bot": self.handoff.back_to_bot, "close": self.handoff.close}
        for command, action in commands.items():
            router.message(Command(command, ignore_case=True, ignore_mention=True))(
                self._command_handler(action))
        router.message()(self._relay)
        return router

    def _command_handler(self, action: DialogAction) -> Callable[[Message, Update], Awaitable[None]]:
        async def handle(message: Message, event_update: Update) -> None:
            await self._act(message, event_update.update_id, action)
        return handle

    async def _relay(self, message: Message, event_update: Update) -> None:
        """A manager's reply in a topic: to the customer, through the dialog's channel."""
        text = message.text or ""
        if text.strip():
            await self._act(message, event_update.update_id,
                            lambda dialog_id, manager, **where: self.handoff.reply(
                                dialog_id, text, manager, **where))

    async def _act(self, message: Message, update_id: int, action: DialogAction) -> None:
        """Run `action` on the topic's dialog; a refusal is answered in the topic."""
        assert message.message_thread_id is not None  # the router's filter
        dialog = await self._dialog_by_thread(message.message_thread_id)
        if dialog is None or dialog.id is None:
            return
        manager = message.from_user.full_name if message.from_user else "менеджер"
        try:
            await action(dialog.id, manager, source=NAME, external_id=str(update_id))
        except HandoffError as exc:
            await self._post(message.message_thread_id, html.escape(str(exc)))

    async def _topic(self, dialog: Dialog) -> int:
        state = dict(dialog.state)
        thread = state.get("manager_thread")
        if thread:
            return int(thread)
        reason = REASONS.get(dialog.handoff_reason or "", dialog.handoff_reason or "передан")
        try:
            topic = await self.bot.create_forum_topic(self.chat_id, f"#{dialog.id} · {reason}"[:128])
        except TelegramRetryAfter as exc:
            raise DeliveryError(str(exc), retry_after=float(exc.retry_after), throttled=True) from exc
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            raise DeliveryError(f"managers' forum: {exc}") from exc
        async with self.db.transaction() as session:
            repo = DialogRepository(session)
            fresh = await repo.get(dialog.id or 0)
            if fresh is not None:
                await repo.update(fresh, state={**fresh.state, "manager_thread": topic.message_thread_id})
        return topic.message_thread_id

    async def _card(self, dialog: Dialog) -> str:
        assert dialog.id is not None
        async with self.db.session() as session:
            messages = await MessageRepository(session).recent(dialog.id, TRANSCRIPT_MESSAGES)
        lines = [f"<b>Диалог #{dialog.id}</b> · {html.escape(dialog.channel)} · "
                 f"{html.escape(REASONS.get(dialog.handoff_reason or '', dialog.handoff_reason or ''))}"]
        lead = DialogState.from_json(dialog.state).lead
        if lead and lead.fields:
            card = "; ".join(f"{k}: {'в консоли' if k in PERSONAL_FIELDS else v}"
                             for k, v in lead.fields.items() if v)
            lines.append(f"<b>Заявка ({html.escape(lead.product)}):</b> {html.escape(card)}")
        lines.append("")
        known = _personal_values(dialog)
        for m in messages:
            voice = "🎤 " if m.meta.get("voice_transcript") or m.meta.get("voice_error") else ""
            text = redact(m.text[:600], known)
            lines.append(f"{AUTHORS.get(str(m.author), m.author)}: {voice}{html.escape(text)}")
        lines.append("\nОтветьте в этой теме — ответ уйдёт клиенту. /bot — вернуть боту, /close — закрыть.")
        return "\n".join(lines)

    async def _post(self, thread: int, text: str) -> None:
        for part in split_text(text):
            await self.limiter.wait(str(self.chat_id))
            try:
                await self.bot.send_message(self.chat_id, part, message_thread_id=thread,
                                            parse_mode="HTML")
            except TelegramRetryAfter as exc:
                raise DeliveryError(str(exc), retry_after=float(exc.retry_after), throttled=True) from exc
            except (TelegramBadRequest, TelegramForbiddenError) as exc:
                raise DeliveryError(f"managers' forum: {exc}") from exc

    async def _dialog(self, dialog_id: int) -> Dialog | None:
        async with self.db.session() as session:
            return await DialogRepository(session).get(dialog_id)

    async def _dialog_by_thread(self, thread: int) -> Dialog | None:
        async with self.db.session() as session:
            repo = DialogRepository(session)
            for status in (DialogStatus.WAITING, DialogStatus.MANAGER, DialogStatus.BOT):
                for dialog in await repo.list_by_status(status):
                    if dialog.state.get("manager_thread") == thread:
                        return dialog
        return None


def _personal_values(dialog: Dialog) -> list[str]:
    """The lead's personal values (name, city...), masked wherever they appear in a post."""
    lead = DialogState.from_json(dialog.state).lead
    return [v for k, v in (lead.fields if lead else {}).items() if k in PERSONAL_FIELDS and v]

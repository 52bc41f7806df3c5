"""The conversation engine: durable inbox in, agent turn, durable outbox out.

- `accept` stores an inbound message in the inbox (deduplicated by channel
  and external id) and returns only after the commit: a channel acknowledges
  the messenger after that, so a crash later loses nothing.
- Messages of one dialog are processed one at a time, in inbox order; other
  dialogs run concurrently. The dialog's lock (`bots.locks`) is this process's,
  or shared by every process of the product; with a shared one, a message left
  pending by a dead process is taken over by another (`take_over`).
- A processed message, its reply, the dialog's new state and the outbox item
  are written in one transaction together with marking the inbox item done:
  after a crash, a message is either answered (and its reply queued) or still
  pending, never both and never neither. `recover` picks pending ones up.
- A dialog with a manager gets no bot turn: the message is stored and relayed.
- Leads: a `LeadSink` sees every bot turn inside its transaction, so a deal and
  its CRM event are committed with the reply that confirms the application.
  While a lead form waits for consent, phone numbers are masked before anything
  is stored. `/forget` erases the customer's personal data; `/help` explains.
- Card numbers, CVV/CVC, expiry dates and one-time codes are masked in every
  inbound message before it is written to the inbox (and again after a voice
  note is transcribed), so no table, log line or console page ever holds them.
- A channel whose personal-data policy is `redirect` (a foreign messenger, see
  `bots.config.PersonalDataPolicy`) never gets its customers' personal data
  stored, consent or not: phones and names are masked in every message, and a
  wish to apply gets a lawful-channel offer with a one-time link (`bots.handover`).
- A reply may be several messages (an answer to a side question, then the lead
  form's question on its own); each is stored and queued in order.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from agents.agent import Agent
from agents.card_data import mask_card_data
from agents.turn import DialogState, HistoryItem, Reply, TurnInput
from bots.locks import DialogLock, Lease, LocalDialogLock
from bots.messages import Attachment, InboundMessage, OutboundMessage
from bots.misheard import found_nothing, heard_reply, transcript_of
from knowledge.ru.sensitive import mask_cards, redact
from pipelines.leads.privacy import erase_customer, mask_echoed_phones, remove_files
from store.db import Database
from store.models import Author, Dialog, DialogStatus, Direction, InboxItem, Message, OutboxItem
from store.repositories import (
    DialogRepository,
    InboxRepository,
    MessageRepository,
    OutboxRepository,
)
from store.types import utc_now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
#: Turns running at once. Each dialog waits for a slot with at most one message
#: (its lock), and the semaphore serves waiters first come, first served: every
#: waiting dialog gets a turn before any dialog gets a second one.
MAX_CONCURRENT_TURNS = 8
HISTORY_MESSAGES = 12
ERROR_TEXT = ("Извините, не получилось обработать сообщение. Я передал диалог менеджеру — "
              "он ответит здесь же.")

NO_VOICE_TEXT = ("Голосовые сообщения я пока не распознаю. Напишите, пожалуйста, текстом — "
                 "или попросите позвать менеджера.")
UNSUPPORTED_TEXT = "Я понимаю только текст. Напишите, пожалуйста, ваш вопрос словами."
HELP_TEXT = ("Я — виртуальный помощник банка. Спросите о вкладах, кредитах или обслуживании — "
             "отвечу по материалам банка и помогу оставить заявку.\n\n"
             "Команды:\n"
             "/help — эта подсказка\n"
             "/manager — позвать менеджера\n"
             "/forget — удалить ваши персональные данные и отозвать согласие на их обработку")
FORGET_TEXT = ("Готово: ваши персональные данные (имя, телефон, тексты сообщений и заявок) удалены, "
               "согласие на их обработку отозвано. Если захотите снова оставить заявку, просто "
               "напишите — я заново спрошу согласие.")
_COMMAND = re.compile(r"^\s*/(?P<name>[a-z]+)(?:@\w+)?\s*$", re.IGNORECASE)


class LeadSink(Protocol):
    """Takes a bot turn's lead decisions (consent, a completed form) into the deal store.

    Called inside the transaction that stores the reply, after the customer's
    message (`message`, already stored) and before the commit; `dialog` holds
    the state from before the turn. Raising rolls the whole turn back.
    """

    async def on_turn(self, session: AsyncSession, dialog: Dialog, message: Message,
                      reply: Reply) -> None: ...


class AlreadyProcessed(Exception):
    """Another worker committed this inbox item first; this turn's result is dropped."""


@dataclass
class _Turn:
    """A message whose attempt is counted, with its dialog as loaded before the turn."""

    item: InboxItem
    message: InboundMessage
    dialog: Dialog
    history: tuple[HistoryItem, ...]


class _StartFailed(Exception):
    """The message or its dialog could not be read; the attempt was counted on its own."""

    def __init__(self, item: InboxItem, attempts: int) -> None:
        super().__init__(f"inbox item {item.id} could not be started")
        self.item = item
        self.attempts = attempts


@dataclass
class EngineHooks:
    """Optional callbacks and settings of the runtime around the engine.

    `managers_channel` names the outbox channel that notifies managers (a
    Telegram forum, say): a handoff and every customer message of a handed-off
    dialog are queued to it in the same transaction, so a notification is
    never lost.
    """

    on_outbox: Callable[[], None] | None = None
    #: A turn's replies, once committed: a dispatcher in this process sends them at once.
    on_replies: Callable[[Sequence[OutboxItem]], None] | None = None
    typing: Callable[[str, str], Awaitable[None]] | None = None
    managers_channel: str | None = None
    transcribe: Callable[[InboundMessage], Awaitable[InboundMessage]] | None = None
    #: Entered around every agent turn: transcriptions yield to it (pipelines.voice.pacing).
    foreground: Callable[[], AbstractContextManager[None]] | None = None
    leads: LeadSink | None = None
    #: Channels whose personal-data policy is `redirect`.
    redirect_channels: frozenset[str] = frozenset()
    #: Adds the ways to go on (one-time link, MAX/VK bots) to a lawful-channel offer.
    offers: OfferMaker | None = None


class OfferLines(Protocol):
    """The ways to go on that a lawful-channel offer adds to the agent's reply."""

    @property
    def code(self) -> str:
        """The one-time code the dialog keeps until the link is used."""
        ...

    @property
    def sent(self) -> str:
        """The lines the customer receives (the working link)."""
        ...

    @property
    def stored(self) -> str:
        """The lines the dialog's history keeps (the link hidden)."""
        ...


class OfferMaker(Protocol):
    """Makes the lines of a lawful-channel offer for a dialog (`bots.handover.HandoverLinks`)."""

    def offer(self, dialog_id: int) -> OfferLines:
        """A fresh code and the offer's lines."""
        ...


class ConversationEngine:
    """Accepts inbound messages and turns them into stored replies."""

    def __init__(self, db: Database, agent: Agent, default_role: str,
                 hooks: EngineHooks | None = None, locks: DialogLock | None = None) -> None:
        """`locks` serialises each dialog's turns (this process only unless told otherwise)."""
        self.db = db
        self.agent = agent
        self.default_role = default_role
        self.hooks = hooks or EngineHooks()
        self.locks = locks or LocalDialogLock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining: dict[tuple[str, str], int] = {}  # drains scheduled here, per dialog
        self._sweeper: asyncio.Task[None] | None = None
        self._turns = asyncio.Semaphore(MAX_CONCURRENT_TURNS)

    async def accept(self, message: InboundMessage) -> int | None:
        """Store `message` durably (card data masked first); None when it is a repeated delivery."""
        message = mask_secrets(message)
        async with self.db.transaction() as session:
            inbox_id = await InboxRepository(session).add(
                message.channel, message.external_update_id, message.dialog_key,
                message.to_payload())
        if inbox_id is None:
            log.info("duplicate delivery %s/%s dropped", message.channel, message.external_update_id)
            return None
        self.agent.read_mood_ahead(message.text)  # alongside the dialog's load, not after it
        self._schedule(message.channel, message.dialog_key)
        return inbox_id

    def dialog_lock(self, channel: str, dialog_key: str) -> AbstractAsyncContextManager[Lease]:
        """The lock a dialog's turns run under: hold it to change the dialog between turns."""
        return self.locks.hold(channel, dialog_key)

    async def recover(self) -> int:
        """Schedule every dialog with pending inbox items (after a restart)."""
        async with self.db.session() as session:
            keys = await InboxRepository(session).pending_dialog_keys()
        for channel, key in keys:
            self._schedule(channel, key)
        return len(keys)

    async def take_over(self, pending_for_s: float) -> int:
        """Schedule dialogs with an item pending for over `pending_for_s` and no drain here.

        With a shared dialog lock this picks up what a dead process left: the lock
        makes a dialog still being answered elsewhere wait, and then it finds
        nothing left. Without one (a single process) `recover` at start is enough.
        """
        since = utc_now() - timedelta(seconds=pending_for_s)
        async with self.db.session() as session:
            keys = await InboxRepository(session).pending_dialog_keys(received_before=since)
        stale = [key for key in keys if key not in self._draining]
        for channel, key in stale:
            self._schedule(channel, key)
        return len(stale)

    def take_over_periodically(self, pending_for_s: float) -> None:
        """Run `take_over` every half of `pending_for_s` in the background, until `close`."""
        self._sweeper = asyncio.create_task(self._take_over_loop(pending_for_s), name="inbox-take-over")

    async def _take_over_loop(self, pending_for_s: float) -> None:
        while True:
            await asyncio.sleep(pending_for_s / 2)
            try:
                if taken := await self.take_over(pending_for_s):
                    log.info("taking over %d dialog(s) left pending for over %.0f s", taken, pending_for_s)
            except Exception:  # the store is away for a moment: try again next round
                log.exception("looking for dialogs left pending failed")

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled dialog has been processed (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel processing; pending items stay in the inbox for the next start."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- processing ---------------------------------------------------------

    def _schedule(self, channel: str, dialog_key: str) -> None:
        task = asyncio.create_task(self._drain(channel, dialog_key), name=f"dialog:{channel}:{dialog_key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, channel: str, dialog_key: str) -> None:
        key = (channel, dialog_key)
        self._draining[key] = self._draining.get(key, 0) + 1
        try:
            await self._drain_locked(channel, dialog_key)
        finally:
            self._draining[key] -= 1
            if not self._draining[key]:
                del self._draining[key]

    async def _drain_locked(self, channel: str, dialog_key: str) -> None:
        async with self.locks.hold(channel, dialog_key) as lease:
            first = True
            while lease.held:
                # A drain is scheduled for a message just stored: the first look writes at
                # once (`_start`). Later looks usually find nothing, and a read takes no
                # write lock from the outbox's sends meanwhile.
                if not first and not await self._pending(channel, dialog_key):
                    return
                first = False
                async with self._turns:  # fair: see MAX_CONCURRENT_TURNS
                    if not await self._process_next(channel, dialog_key):
                        return
        # The lock was lost mid-drain (its server could not keep it): take it again and go on.
        log.warning("dialog %s/%s: lock lost, draining again", channel, dialog_key)
        self._schedule(channel, dialog_key)

    async def _pending(self, channel: str, dialog_key: str) -> bool:
        async with self.db.session() as session:
            return await InboxRepository(session).next_pending_for_dialog(channel, dialog_key) is not None

    async def _process_next(self, channel: str, dialog_key: str) -> bool:
        """Answer the dialog's oldest pending message; False when none is left."""
        try:
            turn = await self._start(channel, dialog_key)
        except _StartFailed as failed:
            await self._failed_attempt(failed.item, failed.attempts, failed.__cause__ or failed)
            return True
        if turn is None:
            return False
        try:
            await self._process(turn)
        except AlreadyProcessed:
            log.info("inbox item %s was answered by another worker", turn.item.id)
        except Exception as exc:
            await self._failed_attempt(turn.item, turn.item.attempts, exc)
        return True

    async def _start(self, channel: str, dialog_key: str) -> _Turn | None:
        """Count an attempt at the dialog's oldest pending message and load the dialog, in one commit.

        Both are committed before the slow turn, so repeated crashes on one message
        end in `_give_up`. When the message or its dialog cannot be read, the attempt
        is counted in a transaction of its own, for the same reason.
        """
        item: InboxItem | None = None
        try:
            async with self.db.transaction() as session:
                item = await InboxRepository(session).start_next_attempt(channel, dialog_key)
                if item is None:
                    return None
                message = InboundMessage.from_payload(item.payload)
                dialog, history = await self._load(session, message)
            return _Turn(item, message, dialog, history)
        except Exception as exc:
            if item is None:
                raise  # the store failed: the message stays pending for the next drain
            assert item.id is not None
            async with self.db.transaction() as session:
                attempts = await InboxRepository(session).start_attempt(item.id)
            raise _StartFailed(item, attempts or 0) from exc

    async def _failed_attempt(self, item: InboxItem, attempts: int, exc: BaseException) -> None:
        log.error("processing inbox item %s failed (attempt %s)", item.id, attempts, exc_info=exc)
        if attempts >= MAX_ATTEMPTS:
            await self._give_up(item, exc)

    async def _process(self, turn: _Turn) -> None:
        item, message, dialog, history = turn.item, turn.message, turn.dialog, turn.history
        with_manager = dialog.status in (DialogStatus.WAITING, DialogStatus.MANAGER)
        message = mask_secrets(await self._readable(message, show_typing=not with_manager))
        if _command(message.text) == "forget":  # a customer's right, whoever answers the dialog
            await self._commit_forget(item, message, dialog)
            return
        # What the agent sees and what is stored: without consent no phone or name,
        # and never a card number (see knowledge.ru.sensitive). A redirect channel
        # never has consent, and bare names are looked for there too.
        redirect = message.channel in self.hooks.redirect_channels
        names = self.agent.personal_names(message.text) if redirect else ()
        guarded = _guarded(message, consented=_consented(dialog) and not redirect, known=names)
        if with_manager:
            await self._store_for_manager(item, guarded, dialog, rewritten=guarded != message)
            return
        form_text = message.text if guarded.text != message.text else ""
        async with self._typing(message):
            reply = await self._voice_or_text_turn(guarded, dialog, history, form_text=form_text,
                                                   redirect=redirect)
        if not redirect and _grants_consent(dialog, reply):  # consent and data in one message
            guarded = _guarded(message, consented=True)
        await self._commit_reply(item, message, guarded, dialog, reply, redirect=redirect)

    @asynccontextmanager
    async def _typing(self, message: InboundMessage) -> AsyncIterator[None]:
        """«печатает…» sent while the block (the agent's turn) runs, not before it.

        The call is done before the block's result is stored, so it never arrives
        after the reply; its failures do not matter.
        """
        if self.hooks.typing is None:
            yield
            return
        typing = self.hooks.typing(message.channel, message.dialog_key)
        task: asyncio.Future[None] = asyncio.ensure_future(typing)
        try:
            yield
        except BaseException:
            task.cancel()
            raise
        finally:
            await asyncio.gather(task, return_exceptions=True)

    async def _readable(self, message: InboundMessage, show_typing: bool) -> InboundMessage:
        """Voice notes become text when a transcriber is configured."""
        voice = any(a.kind in ("voice", "audio") for a in message.attachments)
        if voice and self.hooks.transcribe is not None:
            if show_typing and self.hooks.typing:  # transcription takes seconds: show the bot is on it
                await self.hooks.typing(message.channel, message.dialog_key)
            return await self.hooks.transcribe(message)
        return message

    async def _voice_or_text_turn(self, message: InboundMessage, dialog: Dialog,
                                  history: tuple[HistoryItem, ...], *, form_text: str,
                                  redirect: bool = False) -> Reply:
        """The turn, with «Я расслышал…» for a voice note that may be misheard (bots.misheard)."""
        heard = transcript_of(message)
        if heard is not None and heard.unsure:  # the model was unsure: do not guess an answer
            return heard_reply(Reply("", dialog.role_id, "rules", grounded=True,
                                     state=DialogState.from_json(dialog.state)), message.text)
        with self.hooks.foreground() if self.hooks.foreground else nullcontext():
            reply = await self._turn(message, dialog, history, form_text=form_text, redirect=redirect)
        if heard is not None and found_nothing(reply):
            return heard_reply(reply, message.text)
        return reply

    async def _turn(self, message: InboundMessage, dialog: Dialog, history: tuple[HistoryItem, ...], *,
                    form_text: str = "", redirect: bool = False) -> Reply:
        """The agent's reply; `form_text` is the message before consent masking (see TurnInput)."""
        state = DialogState.from_json(dialog.state)
        text = message.text or _contact_text(message)
        if not text.strip():
            voice = any(a.kind in ("voice", "audio") for a in message.attachments)
            return Reply(_voice_notice(message) if voice else UNSUPPORTED_TEXT, dialog.role_id, "rules",
                         grounded=True, state=state, quick_replies=("Позвать менеджера",))
        if _command(text) == "help":
            return Reply(HELP_TEXT, dialog.role_id, "rules", grounded=True, state=state)
        return await self.agent.respond(TurnInput(
            text=text, role_id=dialog.role_id, history=history, state=state, channel=message.channel,
            form_text=form_text, personal_data="redirect" if redirect else "collect"))

    async def _load(self, session: AsyncSession,
                    message: InboundMessage) -> tuple[Dialog, tuple[HistoryItem, ...]]:
        dialog = await DialogRepository(session).get_or_create(
            message.channel, message.dialog_key, message.user_ref, self.default_role)
        assert dialog.id is not None
        if dialog.last_message_at is None:  # every stored message moves it: a new dialog has none
            return dialog, ()
        recent = await MessageRepository(session).recent(dialog.id, HISTORY_MESSAGES)
        history = tuple(HistoryItem(author=str(m.author), text=m.text) for m in recent)  # type: ignore[arg-type]
        return dialog, history

    async def _commit_reply(self, item: InboxItem, original: InboundMessage, message: InboundMessage,
                            dialog: Dialog, reply: Reply, *, redirect: bool = False) -> None:
        """Store the (guarded) message, the reply and the outbox item in one transaction.

        `original` is the message as received; when guarding changed it, the inbox
        payload is rewritten too, so nothing unmasked stays behind.
        """
        assert item.id is not None and dialog.id is not None
        private = redirect or not (_consented(dialog) or _grants_consent(dialog, reply))
        recordings = _recordings(original) if private else []
        text = mask_cards(reply.text)
        if private:  # no consent yet: a phone written now must not be stored anywhere
            text = mask_echoed_phones(text, original.text)
        reply = replace(reply, text=text)
        kept, sent = self._offered(reply, dialog.id)
        redacted = message.to_payload() if message != original else None
        async with self.db.transaction() as session:
            if not await InboxRepository(session).mark_done(item.id, payload=redacted):
                raise AlreadyProcessed(item.id)
            messages = MessageRepository(session)
            meta = _inbound_meta(message) | ({"sentiment": reply.sentiment} if reply.sentiment else {})
            # The dialog row is updated once below, its last_message_at included.
            stored = last = await messages.add(dialog.id, Direction.IN, Author.CUSTOMER, message.text,
                                               meta, inbox_id=item.id, touch_dialog=False)
            for n, text in enumerate(kept):
                last = await messages.add(dialog.id, Direction.OUT, Author.AGENT, text,
                                          reply.meta() if n == 0 else {"role": reply.role, "mode": "rules",
                                                                       "followup": True},
                                          touch_dialog=False)
            if self.hooks.leads is not None:
                await self.hooks.leads.on_turn(session, dialog, stored, reply)
            fresh = await DialogRepository(session).get(dialog.id)
            assert fresh is not None
            await DialogRepository(session).update(fresh, last_message_at=last.created_at,
                                                   **_dialog_changes(reply))
            queued = [await OutboxRepository(session).add(
                message.channel, message.dialog_key,
                _outbound(message, reply, text, last=n == len(sent) - 1, first=n == 0).to_payload(),
                inbox_id=item.id) for n, text in enumerate(sent)]
            notified = False
            if reply.handoff:
                notified = await self._notify_managers(session, dialog, "handoff", reply.handoff_reason or "")
            elif reply.lead_completed is not None and "lead_completed" in reply.notes:
                notified = await self._notify_managers(session, dialog, "lead", "lead")
        remove_files(recordings)  # a voice note may have said the phone
        if self.hooks.on_replies is not None and not notified:
            self.hooks.on_replies(queued)  # nothing else was queued: no need to look for it
        elif self.hooks.on_outbox:
            self.hooks.on_outbox()

    def _offered(self, reply: Reply, dialog_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The reply's messages as stored and as sent: a lawful-channel offer gets its link here.

        The dialog keeps the link's one-time code; the stored copy hides the link.
        """
        texts = reply.messages()
        if "lawful_channel" not in reply.notes or self.hooks.offers is None:
            return texts, texts
        offer = self.hooks.offers.offer(dialog_id)
        reply.state.handover = offer.code
        first, rest = texts[0], texts[1:]
        return (f"{first}\n\n{offer.stored}", *rest), (f"{first}\n\n{offer.sent}", *rest)

    async def _commit_forget(self, item: InboxItem, message: InboundMessage, dialog: Dialog) -> None:
        """Erase the customer's personal data and confirm, in one transaction."""
        assert item.id is not None and dialog.id is not None
        async with self.db.transaction() as session:
            if not await InboxRepository(session).mark_done(item.id):
                raise AlreadyProcessed(item.id)
            report = await erase_customer(
                session, actor=f"customer:{message.channel}", channel=message.channel,
                user_ref=message.user_ref, dialog_ids=(dialog.id,), keep_inbox_id=item.id,
                managers_channel=self.hooks.managers_channel)
            messages = MessageRepository(session)
            await messages.add(dialog.id, Direction.IN, Author.CUSTOMER, message.text, {},
                               inbox_id=item.id)
            await messages.add(dialog.id, Direction.OUT, Author.AGENT, FORGET_TEXT, {"erasure": True})
            out = OutboundMessage(channel=message.channel, dialog_key=message.dialog_key,
                                  text=FORGET_TEXT, meta={"role": dialog.role_id, "mode": "rules"})
            await OutboxRepository(session).add(message.channel, message.dialog_key,
                                                out.to_payload(), inbox_id=item.id)
        remove_files(report.audio_files)
        if self.hooks.on_outbox:
            self.hooks.on_outbox()

    async def _notify_managers(self, session: object, dialog: Dialog, kind: str, text: str) -> bool:
        """Queue a note to the managers' channel, if there is one; True when queued."""
        if not self.hooks.managers_channel:
            return False
        note = OutboundMessage(channel=self.hooks.managers_channel, dialog_key=str(dialog.id),
                               text=text, author="system", meta={"kind": kind})
        await OutboxRepository(session).add(self.hooks.managers_channel, str(dialog.id),  # type: ignore[arg-type]
                                            note.to_payload())
        return True

    async def _store_for_manager(self, item: InboxItem, message: InboundMessage, dialog: Dialog, *,
                                 rewritten: bool) -> None:
        assert item.id is not None and dialog.id is not None
        async with self.db.transaction() as session:
            redacted = message.to_payload() if rewritten else None
            if not await InboxRepository(session).mark_done(item.id, payload=redacted):
                return
            await MessageRepository(session).add(dialog.id, Direction.IN, Author.CUSTOMER,
                                                 message.text, _inbound_meta(message), inbox_id=item.id)
            await self._notify_managers(session, dialog, "customer", _text_for_managers(message))
        if self.hooks.on_outbox:
            self.hooks.on_outbox()

    async def _give_up(self, item: InboxItem, exc: BaseException) -> None:
        """After repeated failures: apologise, hand off, and never loop on the message."""
        assert item.id is not None
        message = InboundMessage.from_payload(item.payload)
        async with self.db.transaction() as session:
            if not await InboxRepository(session).mark_failed(item.id, exc):
                return  # answered meanwhile by another worker: no apology
            dialog = await DialogRepository(session).by_key(message.channel, message.dialog_key)
            if dialog is not None:
                await DialogRepository(session).update(
                    dialog, status=DialogStatus.WAITING, handoff_reason="error")
            out = OutboundMessage(channel=message.channel, dialog_key=message.dialog_key,
                                  text=ERROR_TEXT, author="system")
            await OutboxRepository(session).add(message.channel, message.dialog_key,
                                                out.to_payload(), inbox_id=item.id)
        if self.hooks.on_outbox:
            self.hooks.on_outbox()


def _outbound(message: InboundMessage, reply: Reply, text: str, *, first: bool,
              last: bool) -> OutboundMessage:
    """One message of a reply; buttons go with the last one, sources with the first."""
    return OutboundMessage(channel=message.channel, dialog_key=message.dialog_key, text=text,
                           quick_replies=reply.quick_replies if last else (),
                           sources=tuple(s.as_dict() for s in reply.sources) if first else (),
                           meta={"role": reply.role, "mode": reply.mode,
                                 "request_phone": reply.request_phone and last,
                                 "handoff": reply.handoff})


def mask_secrets(message: InboundMessage) -> InboundMessage:
    """The message with card numbers, CVV/CVC, expiry dates and one-time codes masked everywhere."""
    masked = mask_card_data(message.text)
    transcripts = [a.transcript.text for a in message.attachments if a.transcript is not None]
    if not masked.kinds and not any(mask_card_data(t).kinds for t in transcripts) \
            and not mask_card_data(str(message.raw)).kinds:
        return message
    attachments = tuple(
        a.model_copy(update={"transcript": a.transcript.model_copy(
            update={"text": mask_card_data(a.transcript.text).text})}) if a.transcript is not None else a
        for a in message.attachments)
    return message.model_copy(update={"text": masked.text, "raw": _mask_tree(message.raw),
                                      "attachments": attachments})


def _mask_tree(value: object) -> Any:
    """Every string inside a raw update (JSON-like), masked."""
    if isinstance(value, str):
        return mask_card_data(value).text
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_tree(v) for v in value]
    return value


def _inbound_meta(message: InboundMessage) -> dict[str, object]:
    meta: dict[str, object] = {"external_update_id": message.external_update_id}
    if message.attachments:
        meta["attachments"] = [a.model_dump(mode="json") for a in message.attachments]
    transcripts = [a.transcript for a in message.attachments if a.transcript is not None]
    if transcripts:  # the text is what speech recognition heard, not what the customer typed
        meta["voice_transcript"] = bool(transcripts[0].text)
        if transcripts[0].error:
            meta["voice_error"] = transcripts[0].error
    return meta


def _voice_notice(message: InboundMessage) -> str:
    """Why a voice note has no text, for the customer (the pipeline's reason, if any)."""
    notices = [a.transcript.notice for a in message.attachments if a.transcript and a.transcript.notice]
    return notices[0] if notices else NO_VOICE_TEXT


def _text_for_managers(message: InboundMessage) -> str:
    """A customer's message as relayed to managers; a voice note is marked as such."""
    transcripts = [a.transcript for a in message.attachments if a.transcript is not None]
    if not transcripts:
        return message.text
    if transcripts[0].text:
        return f"🎤 {message.text}"
    return f"🎤 голосовое сообщение, не распознано ({transcripts[0].error or 'ошибка'})"


def _command(text: str) -> str | None:
    """`/forget`, `/help@SomeBot` → `forget`, `help`; anything else → None."""
    match = _COMMAND.match(text or "")
    return match["name"].lower() if match else None


def _consented(dialog: Dialog) -> bool:
    """Whether the customer has agreed to the processing text in this dialog."""
    lead = DialogState.from_json(dialog.state).lead
    return lead is not None and lead.consent


def _grants_consent(dialog: Dialog, reply: Reply) -> bool:
    """Whether this turn is the one in which the customer agreed to the processing text."""
    lead = reply.state.lead
    return lead is not None and lead.consent and not _consented(dialog)


def _guarded(message: InboundMessage, *, consented: bool, known: tuple[str, ...] = ()) -> InboundMessage:
    """The message as the agent may see it and the store may keep it.

    Card numbers are always masked. Without consent, phones, introduced names and
    the `known` names are masked too, and shared contacts, recordings and the raw
    update are dropped.
    """
    if consented:
        masked = mask_cards(message.text)
        return message if masked == message.text else message.model_copy(update={"text": masked})
    if not (message.raw or message.attachments) and redact(message.text, known) == message.text:
        return message
    return message.model_copy(update={
        "text": redact(message.text, known), "raw": {},
        "attachments": tuple(_masked_attachment(a, known) for a in message.attachments)})


def _masked_attachment(attachment: Attachment, known: tuple[str, ...] = ()) -> Attachment:
    transcript = attachment.transcript
    if transcript is not None:
        transcript = transcript.model_copy(update={"text": redact(transcript.text, known),
                                                   "audio_file": None})
    return attachment.model_copy(update={"phone": None, "name": None, "transcript": transcript})


def _recordings(message: InboundMessage) -> list[str]:
    """The kept voice recordings of a message."""
    return [a.transcript.audio_file for a in message.attachments
            if a.transcript is not None and a.transcript.audio_file]


def _contact_text(message: InboundMessage) -> str:
    """A shared contact reads as its phone number (the lead form takes it only after consent)."""
    phones = [a.phone for a in message.attachments if a.kind == "contact" and a.phone]
    return phones[0] if phones else ""


def _dialog_changes(reply: Reply) -> dict[str, object]:
    changes: dict[str, object] = {"role_id": reply.role, "state": reply.state.to_json(),
                                  "summary": reply.state.summary, "status": DialogStatus.BOT}
    if reply.handoff:
        changes |= {"status": DialogStatus.WAITING, "handoff_reason": reply.handoff_reason}
    elif reply.lead_completed is not None and "lead_completed" in reply.notes:
        # The deal waits for a manager; the dialog stays with the bot, marked for the managers.
        changes["handoff_reason"] = "lead"
    return changes

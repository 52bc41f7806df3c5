"""The conversation engine and the outbox dispatcher on a real database (SQLite file, PostgreSQL).

The agent is the real `Agent` with a quoting answerer, so every reply shows which
customer message it answers; replies reach a recording test channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from agents.agent import Agent
from agents.role_registry import RoleRegistry
from bots.channels.base import DeliveryError
from bots.engine import ConversationEngine, EngineHooks
from bots.messages import OUTBOX_INTERRUPTED_AT, OutboundMessage
from bots.outbox import MAX_ATTEMPTS, OutboxDispatcher
from knowledge.ru.lemmatizer import Lemmatizer
from store import Database, InboxRepository
from store.models import Author, DialogStatus, InboxStatus, OutboxStatus
from tests.agents.helpers import (
    DEFAULT_ROLE,
    EchoAnswerer,
    RecordingChannel,
    authored,
    dialog_messages,
    dialog_row,
    echo,
    inbound,
    inbox_items,
    outbox_items,
    texts,
    wait_for,
)

IDLE_S = 30.0
MANAGERS = "managers"
EngineFactory = Callable[..., ConversationEngine]


@pytest.fixture
async def make_engine(database: Database, roles: RoleRegistry,
                      lemmatizer: Lemmatizer) -> AsyncIterator[EngineFactory]:
    """Builds engines on the test's database; every one is closed after the test."""
    engines: list[ConversationEngine] = []

    def build(answerer: EchoAnswerer | None = None, hooks: EngineHooks | None = None) -> ConversationEngine:
        agent = Agent(roles, answerer or EchoAnswerer(), lemmatizer)
        engine = ConversationEngine(database, agent, DEFAULT_ROLE, hooks)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.close()


# -- a repeated delivery ---------------------------------------------------------------


async def test_a_repeated_delivery_is_answered_once(database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    message = inbound("Сколько стоит обслуживание карты?", update_id=501)

    first = await engine.accept(message)
    second = await engine.accept(message)
    await engine.idle(IDLE_S)

    assert first is not None
    assert second is None
    assert texts(await outbox_items(database, message.dialog_key)) == [echo(message.text)]
    assert len(authored(await dialog_messages(database, message.dialog_key), Author.CUSTOMER)) == 1


# -- order within a dialog, concurrency between dialogs -----------------------------------


async def test_messages_of_one_dialog_keep_their_order_while_dialogs_run_concurrently(
        database: Database, make_engine: EngineFactory) -> None:
    other_started = asyncio.Event()
    answerer = EchoAnswerer(hold={"вопрос 1": other_started})
    answerer.on_start = lambda text: other_started.set() if text == "Вопрос из другого чата" else None
    engine = make_engine(answerer)
    questions = [f"вопрос {n}" for n in range(1, 21)]

    ids = await asyncio.gather(
        *(engine.accept(inbound(q, update_id=f"a-{n}", dialog_key="busy")) for n, q in enumerate(questions)),
        engine.accept(inbound("Вопрос из другого чата", update_id="b-1", dialog_key="other")),
    )
    await engine.idle(IDLE_S)

    assert all(i is not None for i in ids)
    accept_order = [q for _, q in sorted(zip(ids[:20], questions, strict=True))]
    stored = await dialog_messages(database, "busy")
    assert [(m.author, m.text) for m in stored] == [
        pair for q in accept_order for pair in ((Author.CUSTOMER, q), (Author.AGENT, echo(q)))]
    assert texts(await outbox_items(database, "busy")) == [echo(q) for q in accept_order]
    # «вопрос 1» waited for the other dialog's turn to begin: had dialogs run one at a time,
    # it would have timed out instead of being answered.
    other = await dialog_messages(database, "other")
    assert [m.text for m in other] == ["Вопрос из другого чата", echo("Вопрос из другого чата")]
    assert all(item.status == InboxStatus.DONE for item in await inbox_items(database))


# -- delivery through a channel --------------------------------------------------------------


async def test_retry_after_is_honoured_and_nothing_is_lost(
        database: Database, make_engine: EngineFactory) -> None:
    channel = RecordingChannel()
    channel.failures.append(DeliveryError("Too Many Requests: retry after 1", retry_after=1.0))
    dispatcher = OutboxDispatcher(database, {channel.name: channel})
    engine = make_engine()
    for n, text in enumerate(["Первый вопрос", "Второй вопрос"]):
        await engine.accept(inbound(text, update_id=700 + n, dialog_key="rate-limited"))
        await engine.idle(IDLE_S)

    assert await dispatcher.deliver_due() == 0  # the messenger asked to wait
    assert await dispatcher.deliver_due() == 0  # ... and the second reply does not overtake the first
    assert len(channel.attempts) == 1 and channel.delivered == []

    async def all_sent() -> bool:
        return all(i.status == OutboxStatus.SENT for i in await outbox_items(database))

    dispatcher.start()
    try:
        await wait_for(all_sent, "both replies recorded as sent", timeout=15)
    finally:
        await dispatcher.stop()

    assert [m.text for m in channel.delivered] == [echo("Первый вопрос"), echo("Второй вопрос")]
    assert all(m.dialog_key == "rate-limited" for m in channel.delivered)


async def test_replies_are_delivered_as_soon_as_the_engine_queues_them(
        database: Database, make_engine: EngineFactory) -> None:
    channel = RecordingChannel()
    dispatcher = OutboxDispatcher(database, {channel.name: channel})
    engine = make_engine(hooks=EngineHooks(on_outbox=dispatcher.wake))
    dispatcher.start()
    try:
        await engine.accept(inbound("Где ближайший банкомат?", update_id=801, dialog_key="live"))
        await wait_for(lambda: len(channel.delivered) == 1, "the reply delivered", timeout=10)
    finally:
        await dispatcher.stop()

    [sent] = channel.delivered
    assert sent.text == echo("Где ближайший банкомат?")
    assert sent.channel == channel.name and sent.dialog_key == "live"


class SlowChannel(RecordingChannel):
    """A messenger whose API takes a while to answer: two senders overlap in it."""

    async def send(self, message: OutboundMessage) -> None:
        await asyncio.sleep(0.2)
        await super().send(message)


async def test_two_senders_at_once_deliver_each_reply_once_and_in_order(
        database: Database, make_engine: EngineFactory) -> None:
    channel = SlowChannel()
    # Two dispatchers on one store: two rounds of one process, or two processes.
    first, second = (OutboxDispatcher(database, {channel.name: channel}) for _ in range(2))
    engine = make_engine()
    questions = ["Первый вопрос", "Второй вопрос", "Третий вопрос"]
    for n, text in enumerate(questions):
        await engine.accept(inbound(text, update_id=750 + n, dialog_key="two-senders"))
        await engine.idle(IDLE_S)

    for _ in range(len(questions)):
        await asyncio.gather(first.deliver_due(), second.deliver_due())

    assert [m.text for m in channel.delivered] == [echo(q) for q in questions]
    assert all(i.status == OutboxStatus.SENT for i in await outbox_items(database, "two-senders"))


class StuckChannel(RecordingChannel):
    """A messenger whose API never answers for one chat until the test lets it."""

    def __init__(self, stuck_chat: str) -> None:
        super().__init__()
        self.stuck_chat = stuck_chat
        self.unstuck = asyncio.Event()
        self.waiting: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        if message.dialog_key == self.stuck_chat:
            self.waiting.append(message)
            await self.unstuck.wait()
        await super().send(message)


async def test_a_chat_whose_send_hangs_does_not_hold_back_other_chats(
        database: Database, make_engine: EngineFactory) -> None:
    channel = StuckChannel("hung")
    dispatcher = OutboxDispatcher(database, {channel.name: channel})
    engine = make_engine(hooks=EngineHooks(on_outbox=dispatcher.wake))
    dispatcher.start()
    try:
        await engine.accept(inbound("Первый вопрос", update_id=1001, dialog_key="hung"))
        await wait_for(lambda: len(channel.waiting) == 1, "the first reply's send hanging", timeout=10)
        await engine.accept(inbound("Второй вопрос", update_id=1002, dialog_key="hung"))
        for n in range(3):
            await engine.accept(inbound(f"Вопрос {n}", update_id=1100 + n, dialog_key=f"other-{n}"))
        await wait_for(lambda: len(channel.delivered) == 3, "the other chats' replies", timeout=10)
        assert {m.dialog_key for m in channel.delivered} == {"other-0", "other-1", "other-2"}

        channel.unstuck.set()
        await wait_for(lambda: len(channel.delivered) == 5, "the hung chat's replies", timeout=10)
    finally:
        await dispatcher.stop()
    hung = [m.text for m in channel.delivered if m.dialog_key == "hung"]
    assert hung == [echo("Первый вопрос"), echo("Второй вопрос")]  # each once, in order


async def test_too_many_requests_never_kills_a_reply(database: Database, make_engine: EngineFactory) -> None:
    channel = RecordingChannel()
    throttled = MAX_ATTEMPTS * 2
    channel.failures.extend(DeliveryError("Too Many Requests", retry_after=0.01, throttled=True)
                            for _ in range(throttled))
    dispatcher = OutboxDispatcher(database, {channel.name: channel})
    engine = make_engine()
    await engine.accept(inbound("Какие у вас вклады?", update_id=1201, dialog_key="busy-bot"))
    await engine.idle(IDLE_S)

    async with asyncio.timeout(IDLE_S):
        while not channel.delivered:
            await dispatcher.deliver_due()
            await asyncio.sleep(0.02)

    assert len(channel.attempts) == throttled + 1
    [item] = await outbox_items(database, "busy-bot")
    assert item.status == OutboxStatus.SENT and item.attempts == 1  # the waits used up no attempt


class OnceSlowChannel(RecordingChannel):
    """A messenger whose first answer never comes (the reply did arrive, or did not)."""

    async def send(self, message: OutboundMessage) -> None:
        self.attempts.append(message)
        if len(self.attempts) == 1:
            await asyncio.Event().wait()
        self.delivered.append(message)


async def test_a_send_that_outlives_its_claim_goes_again_as_a_cut_off_one(
        database: Database, make_engine: EngineFactory) -> None:
    channel = OnceSlowChannel()
    dispatcher = OutboxDispatcher(database, {channel.name: channel}, claim_s=0.5)
    engine = make_engine()
    await engine.accept(inbound("Где ближайший банкомат?", update_id=1301, dialog_key="slow"))
    await engine.idle(IDLE_S)

    assert await dispatcher.deliver_due() == 0  # given up after its 0.5 s claim
    await asyncio.sleep(0.1)
    assert await dispatcher.deliver_due() == 1

    first, second = channel.attempts
    assert OUTBOX_INTERRUPTED_AT not in first.meta
    assert OUTBOX_INTERRUPTED_AT in second.meta  # the channel may check what already arrived
    assert [m.text for m in channel.delivered] == [echo("Где ближайший банкомат?")]


async def test_a_blocked_bot_marks_the_reply_dead_and_closes_the_dialog(
        database: Database, make_engine: EngineFactory) -> None:
    channel = RecordingChannel()
    channel.failures.append(DeliveryError("Forbidden: bot was blocked by the user", permanent=True))
    dispatcher = OutboxDispatcher(database, {channel.name: channel})
    engine = make_engine()
    await engine.accept(inbound("Добрый вечер, вопрос по карте", update_id=901, dialog_key="blocked"))
    await engine.idle(IDLE_S)

    await dispatcher.deliver_due()
    await dispatcher.deliver_due()

    assert len(channel.attempts) == 1  # not retried
    [item] = await outbox_items(database, "blocked")
    assert item.status == OutboxStatus.DEAD
    dialog = await dialog_row(database, "blocked")
    assert dialog is not None and dialog.status == DialogStatus.CLOSED


# -- a dialog waiting for a manager -----------------------------------------------------------


async def test_a_handed_off_dialog_gets_no_bot_turn(database: Database, make_engine: EngineFactory) -> None:
    answerer = EchoAnswerer()
    engine = make_engine(answerer, EngineHooks(managers_channel=MANAGERS))
    await engine.accept(inbound("Позовите менеджера", update_id=1001, dialog_key="human"))
    await engine.idle(IDLE_S)
    dialog = await dialog_row(database, "human")
    assert dialog is not None and dialog.status == DialogStatus.WAITING
    assert dialog.handoff_reason == "request"
    to_customer = texts(await outbox_items(database, "human"))
    assert len(to_customer) == 1 and "менеджер" in to_customer[0]

    later = "Алло, вы здесь? Мне нужно закрыть вклад"
    await engine.accept(inbound(later, update_id=1002, dialog_key="human"))
    await engine.idle(IDLE_S)

    stored = await dialog_messages(database, "human")
    assert [m.text for m in authored(stored, Author.CUSTOMER)] == ["Позовите менеджера", later]
    assert len(authored(stored, Author.AGENT)) == 1  # only the handoff notice
    assert texts(await outbox_items(database, "human")) == to_customer
    assert answerer.started == []
    notes = await outbox_items(database, channel=MANAGERS)
    assert [n.payload["meta"]["kind"] for n in notes] == ["handoff", "customer"]
    assert texts(notes)[1] == later  # the manager sees the new message
    assert all(item.status == InboxStatus.DONE for item in await inbox_items(database))


# -- two workers on one database ------------------------------------------------------------------


async def test_two_workers_recovering_one_message_answer_it_once(
        database: Database, make_engine: EngineFactory) -> None:
    message = inbound("Как пополнить вклад?", update_id=1101, dialog_key="shared")
    async with database.transaction() as session:
        inbox = InboxRepository(session)
        item_id = await inbox.add(message.channel, message.external_update_id, message.dialog_key,
                                  message.to_payload())
        assert item_id is not None
        for _ in range(2):  # two earlier workers crashed on it
            await inbox.start_attempt(item_id)
    slow_may_finish = asyncio.Event()
    slow = EchoAnswerer(hold={message.text: slow_may_finish})
    slow_engine, fast_engine = make_engine(slow), make_engine()

    await slow_engine.recover()
    await wait_for(lambda: slow.started == [message.text], "the first worker's turn to begin")
    await fast_engine.recover()
    await fast_engine.idle(IDLE_S)
    slow_may_finish.set()
    await slow_engine.idle(IDLE_S)

    assert texts(await outbox_items(database, "shared")) == [echo(message.text)]
    dialog = await dialog_row(database, "shared")
    assert dialog is not None and dialog.status == DialogStatus.BOT

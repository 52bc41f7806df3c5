"""A whole customer dialog through the engine, offline, on the demo knowledge base.

Greeting → a deposit question → an income calculation → an application with
consent, name and phone, confirmed under its summary → thanks, answered by the
bot while the deal waits for a manager; then what the bank keeps in the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.agent import Agent
from agents.turn import DialogState, Reply, TurnInput
from bots.engine import ConversationEngine, EngineHooks
from bots.messages import OutboundMessage
from store import Database
from store.models import Author, DialogStatus, InboxStatus
from tests.agents.helpers import (
    DEFAULT_ROLE,
    PHONE_SPOKEN,
    PHONE_STORED,
    authored,
    dialog_messages,
    dialog_row,
    inbound,
    inbox_items,
    normal,
    outbox_items,
)

DIALOG = "scripted-1"
MANAGERS = "managers"


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def engine(sqlite_db: Database, offline_agent: Agent) -> AsyncIterator[ConversationEngine]:
    hooks = EngineHooks(managers_channel=MANAGERS)
    engine = ConversationEngine(sqlite_db, offline_agent, DEFAULT_ROLE, hooks)
    try:
        yield engine
    finally:
        await engine.close()


async def say(engine: ConversationEngine, db: Database, text: str, n: int) -> OutboundMessage | None:
    """Send one customer message; the reply queued for the customer, if any."""
    before = len(await outbox_items(db, DIALOG))
    assert await engine.accept(inbound(text, update_id=f"s-{n}", dialog_key=DIALOG)) is not None
    await engine.idle(30)
    queued = await outbox_items(db, DIALOG)
    assert len(queued) - before <= 1, "one message, at most one reply"
    return OutboundMessage.from_payload(queued[-1].payload) if len(queued) > before else None


async def test_a_customer_dialog_from_greeting_to_a_lead(engine: ConversationEngine,
                                                         sqlite_db: Database) -> None:
    script = iter(range(100))

    async def reply_to(text: str) -> OutboundMessage:
        reply = await say(engine, sqlite_db, text, next(script))
        assert reply is not None, f"no reply to {text!r}"
        return reply

    greeting = await reply_to("Здравствуйте")
    assert "здравствуйте" in normal(greeting.text) and "вершина" in normal(greeting.text)

    overview = await reply_to("Какие вклады у вас есть?")
    assert overview.meta["role"] == "deposit_consultant"
    assert overview.meta["mode"] == "offline"
    assert overview.sources and all(s["source"].startswith("deposits/") for s in overview.sources)

    income = await reply_to("Сколько я получу по вкладу 500 тыс на год под 13,5%?")
    assert "67 500" in normal(income.text)

    consent = await reply_to("Хочу открыть вклад")
    assert "согласие" in normal(consent.text) and "персональных данных" in normal(consent.text)
    name = await reply_to("Согласен")
    assert "обращаться" in normal(name.text)
    phone = await reply_to("Анна")
    assert "телефон" in normal(phone.text)
    amount = await reply_to(PHONE_SPOKEN)
    assert "сумм" in normal(amount.text)
    term = await reply_to("Пропустить")
    assert "срок" in normal(term.text)
    review = await reply_to("Пропустить")
    assert "проверьте" in normal(review.text) and "+7 912 345-67-89" in review.text
    assert "Да, всё верно" in review.quick_replies
    done = await reply_to("Да, всё верно")
    assert "заявка на вклад принята" in normal(done.text)
    assert done.meta["handoff"] is False

    # The deal waits for a manager in the deal store (the managers are told); the customer
    # keeps talking to the bot, and the thanks gets a polite close, not the manager queue.
    thanks = await reply_to("Спасибо!")
    assert "пожалуйста" in normal(thanks.text) and "менеджер" in normal(thanks.text)

    dialog = await dialog_row(sqlite_db, DIALOG)
    assert dialog is not None
    assert dialog.role_id == "deposit_consultant"
    assert dialog.status == DialogStatus.BOT
    lead = DialogState.from_json(dialog.state).lead
    assert lead is not None and lead.completed and lead.consent
    assert lead.fields["name"] == "Анна"
    assert lead.fields["phone"] == PHONE_STORED

    stored = await dialog_messages(sqlite_db, DIALOG)
    assert len(authored(stored, Author.CUSTOMER)) == 11
    assert len(authored(stored, Author.AGENT)) == 11
    assert normal(authored(stored, Author.CUSTOMER)[-1].text) == "спасибо!"
    notes = await outbox_items(sqlite_db, channel=MANAGERS)
    assert [n.payload["meta"]["kind"] for n in notes] == ["lead"]
    assert all(item.status == InboxStatus.DONE for item in await inbox_items(sqlite_db))


# -- single answers from the demo knowledge base ------------------------------------------------


async def offline(agent: Agent, question: str, role: str = DEFAULT_ROLE) -> Reply:
    return await agent.respond(TurnInput(question, role))


async def test_the_rate_of_a_named_deposit_and_term(offline_agent: Agent) -> None:
    reply = await offline(offline_agent, "Какая ставка по вкладу «Вершина Доходный» на 12 месяцев?")

    assert reply.role == "deposit_consultant"
    assert reply.grounded
    assert "13,5 %" in normal(reply.text)
    assert any(s.source == "deposits/products.md" for s in reply.sources)


async def test_the_deposit_insurance_limit(offline_agent: Agent) -> None:
    reply = await offline(offline_agent, "До какой суммы застрахованы вклады?")

    assert reply.grounded
    assert "1,4 млн" in normal(reply.text)


async def test_the_deposit_overview_names_the_banks_deposits(offline_agent: Agent) -> None:
    reply = await offline(offline_agent, "Какие вклады у вас есть?")

    for name in ("вершина доходный", "вершина гибкий", "накопительный счет", "вершина валютный"):
        assert name in normal(reply.text), reply.text
    assert "не страхуются" not in normal(reply.text)

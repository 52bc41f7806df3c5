"""A `redirect` channel through the conversation engine: nothing personal is ever stored.

Each test runs on a SQLite file and on PostgreSQL with the real agent, lead form
and lead sink. The channel is marked `redirect` (the default for Telegram): a
customer who answers a whole application there anyway — phone written every
way, name with and without «меня зовут», a shared contact, a manager in the
dialog — leaves no name or phone in any table, no consent and no deal.
"""

from __future__ import annotations

from agents.leadform import ELSEWHERE
from agents.role_registry import RoleRegistry
from bots.config import LawfulChannelsSettings
from bots.engine import ConversationEngine, EngineHooks
from bots.handover import HandoverLinks
from bots.leads import lead_sink
from bots.messages import Attachment
from store import Database
from store.leads import ConsentRecord, Deal
from store.models import Dialog, DialogStatus, Message, OutboxItem
from store.repositories import DialogRepository
from tests.leads.conftest import EngineFactory, lead_settings
from tests.leads.helpers import (
    NAME,
    NAME_STEM,
    PHONE_DIGITS,
    PHONE_WAYS,
    Customer,
    application,
    every_cell,
    leaks,
    rows,
)

REDIRECT = "telegram"


def _redirecting(make_engine: EngineFactory, roles: RoleRegistry) -> ConversationEngine:
    links = HandoverLinks(lambda: "k" * 32, "https://bank.example", 60, LawfulChannelsSettings())
    return make_engine(hooks=EngineHooks(leads=lead_sink(lead_settings(), roles),
                                         redirect_channels=frozenset({REDIRECT}), offers=links))


async def _nothing_personal(database: Database) -> None:
    assert leaks(await every_cell(database), words=(NAME_STEM,), digits=PHONE_DIGITS) == []
    assert await rows(database, Deal) == [] and await rows(database, ConsentRecord) == []


async def test_a_whole_application_typed_in_a_redirect_channel_stores_nothing_personal(
        database: Database, make_engine: EngineFactory, roles: RoleRegistry) -> None:
    engine = _redirecting(make_engine, roles)
    for number, phone in enumerate(PHONE_WAYS):
        customer = Customer(engine, dialog_key=f"chat-{number}", user_ref=f"user-{number}", channel=REDIRECT)
        await customer.say(*application(phone=phone), f"Меня зовут {NAME}, перезвоните на {phone}")

    await _nothing_personal(database)
    dialog = (await rows(database, Dialog))[0]
    lead = dialog.state["lead"]
    assert lead["asking"] == ELSEWHERE and lead["consent"] is False
    assert lead["fields"] == {"amount": "500000 RUB", "term": "12 мес."}  # non-personal: kept for later
    assert dialog.state["handover"]  # the latest link's one-time code
    sent = [i.payload["text"] for i in await rows(database, OutboxItem) if i.dialog_key == "chat-0"]
    assert "https://bank.example/chat/continue/" in sent[0]
    stored = [m.text for m in await rows(database, Message) if m.dialog_id == dialog.id]
    assert not any("/chat/continue/" in t for t in stored)  # the history keeps no working link


async def test_a_shared_contact_and_a_bare_name_are_dropped_in_a_redirect_channel(
        database: Database, make_engine: EngineFactory, roles: RoleRegistry) -> None:
    engine = _redirecting(make_engine, roles)
    customer = Customer(engine, channel=REDIRECT)
    await customer.say("Хочу открыть вклад")
    await customer.say("", attachments=[Attachment(kind="contact", phone=PHONE_WAYS[0], name=NAME,
                                                   verified=True)])
    await customer.say(f"{NAME} Смирнова, {PHONE_WAYS[1]}")
    await _nothing_personal(database)


async def test_a_phone_written_to_a_manager_in_a_redirect_channel_is_masked(
        database: Database, make_engine: EngineFactory, roles: RoleRegistry) -> None:
    engine = _redirecting(make_engine, roles)
    customer = Customer(engine, channel=REDIRECT)
    await customer.say("Позовите менеджера")
    async with database.transaction() as session:
        dialog = await DialogRepository(session).by_key(REDIRECT, customer.dialog_key)
        assert dialog is not None and dialog.status == DialogStatus.WAITING
    await customer.say(f"Меня зовут {NAME}, мой номер {PHONE_WAYS[0]}")
    await _nothing_personal(database)

"""Leads through the conversation engine: one deal per customer, consent first, /forget, /help.

Each test runs on a SQLite file and on PostgreSQL. The dialog goes through the
real agent and lead form; the engine stores the deal and its CRM event in the
transaction of the reply that confirms the application.
"""

from __future__ import annotations

from pathlib import Path

from bots.engine import FORGET_TEXT, HELP_TEXT, ConversationEngine, EngineHooks
from bots.leads import lead_sink
from bots.messages import Attachment, VoiceTranscript
from pipelines.leads.identity import merge_contacts
from store import Database
from store.audit import AuditEvent
from store.leads import ConsentRecord, Contact, ContactIdentity, CrmEvent, CrmEventStatus, Deal, DealStage
from store.models import Author, Dialog, InboxItem, InboxStatus, Message, OutboxItem
from store.repositories import CrmEventRepository
from tests.leads.conftest import EngineFactory, lead_settings
from tests.leads.helpers import (
    NAME,
    NAME_STEM,
    PHONE,
    PHONE_DIGITS,
    PHONE_WAYS,
    Customer,
    application,
    every_cell,
    leaks,
    rows,
)

MANAGERS = "managers"


async def test_a_completed_application_is_a_deal_with_its_crm_event(
        database: Database, make_engine: EngineFactory) -> None:
    customer = Customer(make_engine())
    await customer.say(*application())

    [contact] = await rows(database, Contact)
    [deal] = await rows(database, Deal)
    [event] = await rows(database, CrmEvent)
    [consent] = await rows(database, ConsentRecord)
    assert (contact.name, contact.phone) == (NAME, PHONE)
    assert deal.contact_id == contact.id and deal.product == "deposit"
    assert (deal.amount_minor, deal.currency, deal.term_months) == (500_000_00, "RUB", 12)
    assert deal.stage == DealStage.QUALIFIED and deal.qualified_at is not None
    assert deal.score == 10 + 20 + 10  # base, amount ≥ 300 000, a term given
    assert deal.consent_id == consent.id and consent.contact_id == contact.id
    assert consent.text_version == "2026-11-01" and consent.channel == "webchat"
    consent_message = next(m for m in await rows(database, Message) if m.id == consent.message_id)
    assert consent_message.text == "Согласен" and consent_message.author == Author.CUSTOMER
    assert event.event == "deal.created" and event.status == CrmEventStatus.PENDING
    assert event.payload["deal"]["id"] == deal.id and event.payload["contact"]["phone"] == PHONE
    assert event.payload["consent"]["version"] == "2026-11-01"
    # The confirming reply was committed together with the deal.
    confirmations = [m for m in await rows(database, Message) if "Заявка на вклад принята" in m.text]
    assert len(confirmations) == 1
    [identity] = await rows(database, ContactIdentity)
    assert (identity.channel, identity.user_ref) == ("webchat", "user-1")


async def test_the_same_dialog_replayed_twice_yields_one_deal(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    first = Customer(engine, dialog_key="chat-1", user_ref="user-1")
    await first.say(*application())
    for message in first.sent:  # a channel redelivers every update of the dialog
        assert await first.deliver(message) is None
    # The same dialog played again from the start, as new messages of a new chat.
    replay = Customer(engine, dialog_key="chat-1-again", user_ref="user-1")
    await replay.say(*application())

    [deal] = await rows(database, Deal)
    assert len(await rows(database, Contact)) == 1
    assert deal.version == 1
    assert [e.event for e in await rows(database, CrmEvent)] == ["deal.created"]
    assert len(await rows(database, Dialog)) == 2


async def test_one_phone_written_ten_ways_is_one_contact(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    for number, phone in enumerate(PHONE_WAYS):
        customer = Customer(engine, dialog_key=f"chat-{number}", user_ref="user-1")
        await customer.say(*application(phone=phone))

    [contact] = await rows(database, Contact)
    assert contact.phone == PHONE
    assert len(await rows(database, ContactIdentity)) == 1
    assert len(await rows(database, Deal)) == 1
    assert len(await rows(database, ConsentRecord)) == len(PHONE_WAYS)


async def test_the_same_phone_from_another_account_does_not_touch_the_first_customer(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    await Customer(engine, "tg-chat", "tg-user", channel="telegram").say(*application())
    visitor = Customer(engine, "web-chat", "web-user")
    await visitor.say(*application(name="Пётр Сидоров", amount="10 000"))

    contacts = await rows(database, Contact)
    assert [(c.name, c.phone) for c in contacts] == [(NAME, PHONE), ("Пётр Сидоров", PHONE)]
    victim_deal, visitor_deal = await rows(database, Deal)
    assert victim_deal.contact_id == contacts[0].id and victim_deal.channel == "telegram"
    assert victim_deal.amount_minor == 500_000_00 and victim_deal.version == 1
    assert visitor_deal.contact_id == contacts[1].id

    await visitor.say("/forget")

    [victim, erased] = await rows(database, Contact)
    assert (victim.name, victim.phone, victim.erased_at) == (NAME, PHONE, None)
    victim_deal = (await rows(database, Deal))[0]
    assert victim_deal.stage == DealStage.QUALIFIED and victim_deal.version == 1
    assert erased.erased_at is not None and erased.phone is None
    consents = {c.channel: c for c in await rows(database, ConsentRecord)}
    assert consents["telegram"].withdrawn_at is None and consents["webchat"].withdrawn_at is not None
    kept = [m.text for m in await rows(database, Message) if m.dialog_id == victim_deal.dialog_id]
    assert NAME in kept and all(t != "[удалено по запросу клиента]" for t in kept)


async def test_only_a_shared_contact_of_the_senders_own_account_verifies_the_phone(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    own = Attachment(kind="contact", phone="+7 912 345 67 89", name=NAME, verified=True)
    card = Attachment(kind="contact", phone="+7 912 345 67 89", name=NAME)  # typed into a card
    shared = Customer(engine, "tg-1", "tg-user-1", channel="telegram")
    await shared.say("Хочу открыть вклад", "Согласен", NAME)
    await shared.say("", attachments=[own])
    await shared.say("500 тыс", "на год", "Да, всё верно")
    carded = Customer(engine, "tg-2", "tg-user-2", channel="telegram")
    await carded.say("Хочу открыть вклад", "Согласен", NAME)
    await carded.say("", attachments=[card])
    await carded.say("500 тыс", "на год", "Да, всё верно")
    typed = Customer(engine, "web-3", "web-user-3")
    await typed.say(*application())

    verified = {c.id: c.phone_verified_at is not None for c in await rows(database, Contact)}
    assert list(verified.values()) == [True, False, False]
    assert {c.phone for c in await rows(database, Contact)} == {PHONE}
    # The same account later typing another number loses the mark.
    await Customer(engine, "tg-1b", "tg-user-1", channel="telegram").say(
        *application(phone="+7 999 000-11-22"))
    first = (await rows(database, Contact))[0]
    assert first.phone == "+79990001122" and first.phone_verified_at is None


async def test_a_returning_customer_updates_the_open_deal(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    await Customer(engine, dialog_key="spring", user_ref="u-1", channel="telegram").say(*application())
    await Customer(engine, "autumn", "u-1", channel="telegram").say(
        *application(phone="8 912 345 67 89", amount="1,5 млн", term="Пропустить"))

    [deal] = await rows(database, Deal)
    assert deal.amount_minor == 1_500_000_00
    assert deal.term_months == 12  # not said again: kept
    assert deal.channel == "telegram" and deal.version == 2
    assert deal.score == 10 + 20 + 20 + 10
    events = await rows(database, CrmEvent)
    assert [(e.event, e.payload["deal"]["version"]) for e in events] == [
        ("deal.created", 1), ("deal.updated", 2)]
    assert len({e.idempotency_key for e in events}) == 2


async def test_a_phone_given_before_consent_is_stored_nowhere(
        database: Database, make_engine: EngineFactory) -> None:
    customer = Customer(make_engine())
    await customer.say("Хочу открыть вклад", "Мой телефон 8 (912) 345-67-89, перезвоните")
    await customer.say("Можно сразу продиктую номер: +7 912 345 67 89?")
    await customer.say("", attachments=[Attachment(kind="contact", phone=PHONE, name=NAME)])
    await customer.say("Не согласен")

    cells = await every_cell(database)
    assert leaks(cells, digits=PHONE_DIGITS) == []
    assert leaks(cells, words=[NAME_STEM]) == []
    assert await rows(database, Contact) == [] and await rows(database, Deal) == []
    stored = [m.text for m in await rows(database, Message) if m.author == Author.CUSTOMER]
    assert "Мой телефон * (***) ***-**-**, перезвоните" in stored


async def test_a_voice_note_before_consent_keeps_neither_phone_nor_recording(
        database: Database, make_engine: EngineFactory, tmp_path: Path) -> None:
    recording = tmp_path / "note.ogg"
    recording.write_bytes(b"OggS")
    heard = "Мой номер восемь 912 345 67 89"
    customer = Customer(make_engine())
    await customer.say("Хочу открыть вклад")
    await customer.say(heard, attachments=[Attachment(
        kind="voice", duration_s=3.0, transcript=VoiceTranscript(text=heard, audio_file=str(recording)))])

    assert not recording.exists()
    cells = await every_cell(database)
    assert leaks(cells, digits="9123456789") == [] and leaks(cells, words=["note.ogg"]) == []


async def test_after_consent_only_the_phone_given_then_is_stored(
        database: Database, make_engine: EngineFactory) -> None:
    customer = Customer(make_engine())
    await customer.say("Хочу открыть вклад", "Запишите 8 912 345 67 89")
    await customer.say("Согласен", NAME, "+7 999 000-11-22", "Пропустить", "Пропустить", "Да")

    [contact] = await rows(database, Contact)
    assert contact.phone == "+79990001122"
    assert leaks(await every_cell(database), digits=PHONE_DIGITS) == []


async def test_forget_leaves_no_name_or_phone_in_any_table(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine(managers_channel=MANAGERS)
    customer = Customer(engine)
    await customer.say(*application())
    # After the application the bot keeps the dialog; this message quotes the phone again.
    await customer.say(f"{NAME}, перезвоните лучше на 8 912 345 67 89 вечером")
    # The CRM has seen the deal once; its copy must go too.
    async with database.transaction() as session:
        [event] = await CrmEventRepository(session).find()
        assert event.id is not None
        await CrmEventRepository(session).mark_sent(event.id)
    cells = await every_cell(database)
    assert leaks(cells, words=[NAME_STEM]) and leaks(cells, digits=PHONE_DIGITS)  # the probe works

    await customer.say("/forget")

    cells = await every_cell(database)
    assert leaks(cells, words=[NAME_STEM]) == []
    assert leaks(cells, digits=PHONE_DIGITS) == []
    [contact] = await rows(database, Contact)
    assert contact.erased_at is not None and contact.phone is None  # a tombstone
    [deal] = await rows(database, Deal)
    assert deal.stage == DealStage.LOST and deal.contact_id == contact.id
    assert [e.event for e in await rows(database, CrmEvent)] == ["deal.created", "deal.erased"]
    [consent] = await rows(database, ConsentRecord)
    assert consent.withdrawn_at is not None
    [erasure] = [a for a in await rows(database, AuditEvent) if a.action == "customer.erased"]
    assert erasure.actor == "customer:webchat" and erasure.details["contacts"] == 1
    replies = [o.payload["text"] for o in await rows(database, OutboxItem) if o.channel == "webchat"]
    assert replies[-1] == FORGET_TEXT
    assert all(i.status != InboxStatus.PENDING for i in await rows(database, InboxItem))

    [dialog] = await rows(database, Dialog)
    assert dialog.state == {} and dialog.summary == ""  # the form starts over, consent first


async def test_forget_erases_the_same_person_in_every_channel_once_merged(
        database: Database, make_engine: EngineFactory) -> None:
    engine = make_engine()
    await Customer(engine, "web-chat", "web-user").say(*application())
    telegram = Customer(engine, "tg-chat", "tg-user", channel="telegram")
    await telegram.say(*application(phone="8 912 345 67 89"))
    web_contact, tg_contact = await rows(database, Contact)
    assert web_contact.id is not None and tg_contact.id is not None
    await merge_contacts(database, web_contact.id, tg_contact.id, actor="manager:ivanova",
                         reason="клиент подтвердил по телефону, что оба чата его")

    await telegram.say("/forget")

    cells = await every_cell(database)
    assert leaks(cells, words=[NAME_STEM]) == [] and leaks(cells, digits=PHONE_DIGITS) == []
    assert await rows(database, ContactIdentity) == []
    [merge] = [a for a in await rows(database, AuditEvent) if a.action == "contact.merged"]
    assert merge.actor == "manager:ivanova" and merge.details["source"] == web_contact.id


async def test_help_and_forget_work_without_a_lead_sink(
        database: Database, make_engine: EngineFactory) -> None:
    customer = Customer(make_engine(sink=False))
    await customer.say("/help")
    [help_reply] = await rows(database, OutboxItem)
    assert help_reply.payload["text"] == HELP_TEXT

    await customer.say("Хочу открыть вклад", "Согласен", NAME, "/forget")

    replies = [o.payload["text"] for o in await rows(database, OutboxItem)]
    assert replies[-1] == FORGET_TEXT
    assert await rows(database, Deal) == []
    assert leaks(await every_cell(database), words=[NAME_STEM]) == []


class _BrokenSink:
    """Stores the lead like the real sink, then fails: the whole turn must roll back."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    async def on_turn(self, session, dialog, message, reply) -> None:  # type: ignore[no-untyped-def]
        await self.inner.on_turn(session, dialog, message, reply)  # type: ignore[attr-defined]
        if reply.lead_completed is not None:
            raise RuntimeError("the deal store is down")


async def test_a_deal_is_committed_with_its_reply_or_not_at_all(
        database: Database, make_engine: EngineFactory, roles: object) -> None:
    sink = _BrokenSink(lead_sink(lead_settings(), roles))  # type: ignore[arg-type]
    engine: ConversationEngine = make_engine(hooks=EngineHooks(leads=sink))  # type: ignore[arg-type]
    await Customer(engine).say(*application())

    assert await rows(database, Deal) == [] and await rows(database, CrmEvent) == []
    assert await rows(database, Contact) == []
    texts = [m.text for m in await rows(database, Message)]
    assert not any("Заявка на вклад принята" in t for t in texts)
    [last] = (await rows(database, InboxItem))[-1:]
    assert last.status == InboxStatus.FAILED


async def test_a_loan_application_is_routed_and_qualified(
        database: Database, make_engine: EngineFactory) -> None:
    customer = Customer(make_engine())
    await customer.say("Хочу взять кредит наличными", "Согласен", NAME, PHONE_WAYS[1], "300 тыс",
                       "на 2 года", "Москва", "Всё верно")

    [deal] = await rows(database, Deal)
    assert deal.product == "loan" and deal.role_id == "loan_manager"
    assert deal.stage == DealStage.QUALIFIED and deal.city == "Москва"
    assert deal.term_months == 24

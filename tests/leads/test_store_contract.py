"""The deal store's contract: the same suite on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from store import (
    ConsentRepository,
    ContactRepository,
    CrmEventRepository,
    Database,
    DealRepository,
    DealStage,
    StageMoveError,
)
from store.db import _alembic_config
from store.leads import CrmEvent, CrmEventStatus, Deal
from store.models import DialogStatus
from store.repositories import DialogRepository
from tests.leads.helpers import rows

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def _contact(db: Database, phone: str = "+79123456789", name: str | None = "Анна",
                   account: tuple[str, str] | None = None) -> int:
    """A contact of a messenger account (a fresh one unless given)."""
    channel, user_ref = account or ("webchat", f"w-{next(_ACCOUNTS)}")
    async with db.transaction() as session:
        contact, _ = await ContactRepository(session).of_identity(channel, user_ref, phone, name)
    assert contact.id is not None
    return contact.id


_ACCOUNTS = itertools.count(1)


async def _deal(db: Database, contact_id: int, **fields: object) -> Deal:
    async with db.transaction() as session:
        return await DealRepository(session).add(contact_id, "deposit", channel="webchat",
                                                 role_id="deposit_consultant", **fields)


# -- contacts -------------------------------------------------------------------------------


async def test_an_account_is_one_contact_and_its_name_and_phone_follow_the_latest(
        database: Database) -> None:
    account = ("telegram", "42")
    first = await _contact(database, name="Анна", account=account)
    async with database.transaction() as session:
        contacts = ContactRepository(session)
        again, changed = await contacts.of_identity(*account, "+79123456789", "Анна Петровна")
        same, unchanged = await contacts.of_identity(*account, "+79120000002", None)
    assert again.id == first == same.id
    assert changed and unchanged and (same.name, same.phone) == ("Анна Петровна", "+79120000002")
    async with database.transaction() as session:
        _, repeated = await ContactRepository(session).of_identity(*account, "+79120000002", None)
    assert not repeated


async def test_the_same_phone_from_another_account_is_another_contact(database: Database) -> None:
    victim = await _contact(database, name="Анна", account=("telegram", "42"))
    visitor = await _contact(database, name="Мошенник", account=("webchat", "w-anon"))
    async with database.session() as session:
        contacts = ContactRepository(session)
        kept = await contacts.get(victim)
        both = await contacts.with_phone("+79123456789")
        identities = await contacts.identities([victim])
    assert visitor != victim
    assert kept is not None and kept.name == "Анна"
    assert [c.id for c in both] == [victim, visitor]
    assert [(i.channel, i.user_ref) for i in identities] == [("telegram", "42")]


async def test_an_account_bound_to_a_contact_moves_only_by_an_explicit_merge(
        database: Database) -> None:
    old = await _contact(database, "+79120000001", account=("telegram", "42"))
    new = await _contact(database, "+79120000002", account=("webchat", "w-1"))
    deal = await _deal(database, old)
    async with database.transaction() as session:
        contacts = ContactRepository(session)
        assert not await contacts.add_identity(new, "telegram", "42")  # bound already: stays
        assert (await contacts.by_identity("telegram", "42")).id == old  # type: ignore[union-attr]
        await contacts.merge(old, new)
    async with database.session() as session:
        contacts = ContactRepository(session)
        identities = await contacts.identities([old, new])
        merged = await contacts.get(old)
        moved = await DealRepository(session).get(deal.id or 0)
    assert sorted((i.channel, i.user_ref, i.contact_id) for i in identities) == [
        ("telegram", "42", new), ("webchat", "w-1", new)]
    assert merged is not None and merged.merged_into_id == new and merged.phone is None
    assert moved is not None and moved.contact_id == new


async def test_an_erased_contact_is_a_tombstone_and_its_account_starts_afresh(database: Database) -> None:
    erased = await _contact(database, account=("telegram", "42"))
    async with database.transaction() as session:
        contacts = ContactRepository(session)
        assert await contacts.erase([erased]) == 1
    returning = await _contact(database, account=("telegram", "42"))
    async with database.session() as session:
        tombstone = await ContactRepository(session).get(erased)
        assert await ContactRepository(session).identities([erased]) == []
    assert tombstone is not None and tombstone.erased_at is not None
    assert (tombstone.name, tombstone.phone) == (None, None)
    assert returning != erased


# -- deals ----------------------------------------------------------------------------------


async def test_a_deal_changes_version_only_when_something_changed(database: Database) -> None:
    deal = await _deal(database, await _contact(database), amount_minor=100_00, currency="RUB")
    async with database.transaction() as session:
        deals = DealRepository(session)
        fresh = await deals.get(deal.id or 0)
        assert fresh is not None and fresh.version == 1 and fresh.stage == DealStage.NEW
        assert not await deals.apply(fresh, {"amount_minor": 100_00, "currency": "RUB"})
        assert await deals.apply(fresh, {"amount_minor": 200_00, "details": {"comment": "к вечеру"}})
        assert await deals.apply(fresh, {"dialog_id": None, "manager": "ivanova"}, versioned=False)
    async with database.session() as session:
        stored = await DealRepository(session).get(deal.id or 0)
    assert stored is not None and stored.version == 2
    assert stored.amount_minor == 200_00 and stored.details == {"comment": "к вечеру"}
    assert stored.manager == "ivanova"


async def test_stages_move_forward_only(database: Database) -> None:
    deal = await _deal(database, await _contact(database))
    async with database.transaction() as session:
        deals = DealRepository(session)
        fresh = await deals.get(deal.id or 0)
        assert fresh is not None
        for stage in ("qualified", "in_work", "won"):
            assert await deals.move(fresh, stage)
        assert fresh.qualified_at is not None and fresh.closed_at is not None
        with pytest.raises(StageMoveError):
            await deals.move(fresh, "new")
        assert not await deals.move(fresh, "won")
    async with database.session() as session:
        assert [d.stage for d in await DealRepository(session).find("won")] == [DealStage.WON]
        assert await DealRepository(session).find("new") == []


async def test_the_open_deal_of_a_contact_is_found_by_product(database: Database) -> None:
    contact = await _contact(database)
    closed = await _deal(database, contact, stage=DealStage.QUALIFIED)
    async with database.transaction() as session:
        deals = DealRepository(session)
        fresh = await deals.get(closed.id or 0)
        assert fresh is not None
        await deals.move(fresh, "lost")
    open_deal = await _deal(database, contact)
    async with database.session() as session:
        deals = DealRepository(session)
        found = await deals.open_for(contact, "deposit")
        assert await deals.open_for(contact, "loan") is None
        assert await deals.last_manager(["a", "b"]) is None
    assert found is not None and found.id == open_deal.id


# -- consents -------------------------------------------------------------------------------


async def test_consents_are_recorded_linked_and_withdrawn(database: Database) -> None:
    contact = await _contact(database)
    async with database.transaction() as session:
        dialog = await DialogRepository(session).get_or_create("webchat", "d-1", "u-1", "front_desk")
        consents = ConsentRepository(session)
        older = await consents.add("webchat", "v1", dialog_id=dialog.id, given_at=NOW)
        newer = await consents.add("webchat", "v2", dialog_id=dialog.id)
        latest = await consents.latest_for_dialog(dialog.id or 0)
        assert latest is not None and latest.id == newer.id
        await consents.link(latest, contact)
        assert await consents.withdraw(contact_ids=[contact]) == 1
        assert await consents.withdraw(dialog_ids=[dialog.id or 0]) == 1
        assert await consents.latest_for_dialog(dialog.id or 0) is None
    async with database.session() as session:
        stored = await ConsentRepository(session).get(older.id or 0)
    assert stored is not None and stored.given_at == NOW and stored.withdrawn_at is not None


# -- the CRM outbox -------------------------------------------------------------------------


async def _events(db: Database, *deal_ids: int) -> list[int]:
    async with db.transaction() as session:
        events = CrmEventRepository(session)
        added = [await events.add(deal_id, "deal.updated", {"n": n}, f"key-{n}")
                 for n, deal_id in enumerate(deal_ids)]
    return [e.id for e in added if e.id is not None]


async def _due(db: Database, now: datetime) -> list[int | None]:
    async with db.session() as session:
        return [e.id for e in await CrmEventRepository(session).due(now)]


async def test_events_are_due_in_order_and_wait_behind_their_deal(database: Database) -> None:
    contact = await _contact(database)
    a, b = (await _deal(database, contact)).id or 0, (await _deal(database, contact)).id or 0
    first, same_deal, other_deal = await _events(database, a, a, b)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert await _due(database, later) == [first, same_deal, other_deal]
    async with database.transaction() as session:
        assert await CrmEventRepository(session).mark_retry(first, "HTTP 503", 30, now=later)
    assert await _due(database, later) == [other_deal]  # version 2 never overtakes version 1
    async with database.transaction() as session:
        assert await CrmEventRepository(session).mark_dead(first, "HTTP 400")
    assert await _due(database, later) == [other_deal]  # nor a dead version 1
    async with database.transaction() as session:
        assert await CrmEventRepository(session).retry_dead() == 1
    assert await _due(database, later) == [first, same_deal, other_deal]


async def test_one_worker_claims_an_event_and_outcomes_count_attempts(database: Database) -> None:
    [event] = await _events(database, (await _deal(database, await _contact(database))).id or 0)
    now = datetime.now(UTC) + timedelta(seconds=1)
    async with database.transaction() as session:
        events = CrmEventRepository(session)
        assert await events.claim(event, now, 60)
        assert not await events.claim(event, now, 60)  # another worker's now
    assert await _due(database, now) == []
    async with database.transaction() as session:
        events = CrmEventRepository(session)
        assert await events.mark_sent(event, now=NOW)
        assert not await events.mark_sent(event)
        assert await events.counts() == {"pending": 0, "sent": 1, "dead": 0}
        stored = await events.get(event)
    assert stored is not None and stored.attempts == 1 and stored.sent_at == NOW


async def test_idempotency_keys_are_unique(database: Database) -> None:
    deal = (await _deal(database, await _contact(database))).id or 0
    await _events(database, deal)
    with pytest.raises(sa.exc.IntegrityError):
        await _events(database, deal)  # the same key "key-0" again


async def test_erasure_drops_unsent_events_and_blanks_sent_ones(database: Database) -> None:
    deal = (await _deal(database, await _contact(database))).id or 0
    sent, dead, pending = await _events(database, deal, deal, deal)
    async with database.transaction() as session:
        events = CrmEventRepository(session)
        await events.mark_sent(sent)
        await events.mark_dead(dead, "HTTP 400")
        assert await events.drop_unsent([deal]) == 2
        assert await events.blank_sent([deal]) == 1
    [left] = await rows(database, CrmEvent)
    assert left.id == sent and left.payload == {"event": "deal.updated", "deal": {"id": deal}, "erased": True}
    assert pending and dead


# -- the schema -----------------------------------------------------------------------------


async def test_upgrading_a_database_with_dialogs_keeps_them(store_url: str) -> None:
    db = Database.from_url(store_url)
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(_upgrade_to, "0002")
            await connection.commit()
        async with db.transaction() as session:
            await DialogRepository(session).get_or_create("webchat", "old", "u", "front_desk")
        await db.migrate()
        assert await db.current_revision() not in (None, "0001", "0002")
        deal = await _deal(db, await _contact(db))
        async with db.session() as session:
            [dialog] = await DialogRepository(session).list_by_status(DialogStatus.BOT)
        assert dialog.dialog_key == "old" and deal.id is not None
    finally:
        await db.dispose()


def _upgrade_to(connection: Connection, revision: str) -> None:
    command.upgrade(_alembic_config(connection), revision)


def test_statuses_are_the_documented_ones() -> None:
    assert [s.value for s in CrmEventStatus] == ["pending", "sent", "dead"]
    assert [s.value for s in DealStage] == ["new", "qualified", "in_work", "won", "lost"]

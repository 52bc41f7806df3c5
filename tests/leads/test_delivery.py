"""Delivery of deal events to a CRM webhook: nothing lost, nothing twice, every deal in order.

The receiver is a loopback aiohttp server that checks every signature, fails a
share of requests at random and goes down for a while; the dispatcher is the
product's, with a small backoff so the test stays quick. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from bots.cli.outbox import retry_dead
from pipelines.leads import CrmDispatcher, LeadInput, LeadPipeline, RetryPolicy, WebhookClient
from store import Database
from store.leads import CrmEvent, CrmEventStatus
from tests.leads.helpers import NAME, ROLE, rows
from tests.leads.receiver import SECRET, CrmReceiver

FAST = RetryPolicy(max_attempts=1000, base_s=0.01, cap_s=0.2)
WAIT_S = 30.0
DispatcherFactory = Callable[..., CrmDispatcher]


@pytest.fixture
async def dispatcher(database: Database, receiver: CrmReceiver) -> AsyncIterator[DispatcherFactory]:
    """Starts dispatchers against the receiver; stopped after the test."""
    started: list[CrmDispatcher] = []

    def start(policy: RetryPolicy = FAST) -> CrmDispatcher:
        client = WebhookClient(receiver.url, SECRET, timeout_s=2.0)
        crm = CrmDispatcher(database, client, policy, poll_s=0.02, rng=random.Random(7))
        crm.start()
        started.append(crm)
        return crm

    yield start
    for crm in started:
        await crm.stop()


async def queue_versions(db: Database, deals: int, versions: range) -> None:
    """Give each of `deals` customers a deal and change it once per version: one event each."""
    pipeline = LeadPipeline()
    for version in versions:
        for number in range(deals):
            lead = LeadInput(
                product="deposit", role_id=ROLE, consent=True, consent_version="2026-11-01",
                fields={"name": NAME, "phone": f"+7912000{number:04d}", "amount": f"{100_000 + version} RUB"},
                channel="webchat", user_ref=f"user-{number}")
            async with db.transaction() as session:
                await pipeline.process(session, lead)


async def wait_until_all_sent(db: Database, expected: int) -> list[CrmEvent]:
    async with asyncio.timeout(WAIT_S):
        while True:
            events = await rows(db, CrmEvent)
            if len(events) == expected and all(e.status == CrmEventStatus.SENT for e in events):
                return events
            await asyncio.sleep(0.05)


async def test_flaky_and_down_receiver_gets_everything_once_and_in_order(
        database: Database, receiver: CrmReceiver, dispatcher: DispatcherFactory) -> None:
    deals, versions = 12, 3
    receiver.failure_rate = 0.3
    await receiver.down()
    await queue_versions(database, deals, range(2))
    dispatcher()
    await queue_versions(database, deals, range(2, versions))  # more changes while the CRM is down
    await asyncio.sleep(0.5)
    waiting = await rows(database, CrmEvent)
    assert not any(e.status == CrmEventStatus.SENT for e in waiting)
    assert any(e.attempts > 0 and e.last_error for e in waiting)  # it kept trying

    await receiver.up()
    events = await wait_until_all_sent(database, deals * versions)

    assert receiver.bad_signatures == 0
    assert receiver.failed > 0  # the random failures did happen
    assert set(receiver.accepted) == {e.idempotency_key for e in events}  # 100 % delivered
    assert set(receiver.accepted.values()) == {1}  # 0 duplicates by idempotency key
    assert {deal: versions_seen for deal, versions_seen in receiver.versions.items()} == {
        e.deal_id: [1, 2, 3] for e in events}  # in order, per deal


async def test_an_event_dies_after_max_attempts_holds_its_deal_and_can_be_retried(
        database: Database, receiver: CrmReceiver, dispatcher: DispatcherFactory) -> None:
    receiver.answer = lambda _payload: 503
    await queue_versions(database, 1, range(2))
    dispatcher(RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05))

    async with asyncio.timeout(WAIT_S):
        while (await rows(database, CrmEvent))[0].status != CrmEventStatus.DEAD:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    first, second = await rows(database, CrmEvent)
    assert first.attempts == 3 and (first.last_error or "").startswith("HTTP 503")
    assert second.status == CrmEventStatus.PENDING and second.attempts == 0  # held back, in order

    receiver.answer = lambda _payload: None
    assert await retry_dead(database, None, actor="test") == 1
    await wait_until_all_sent(database, 2)
    assert list(receiver.versions.values()) == [[1, 2]]


async def test_a_refused_event_is_dead_at_once_and_other_deals_go_on(
        database: Database, receiver: CrmReceiver, dispatcher: DispatcherFactory) -> None:
    refused_phone = "+79120000000"
    receiver.answer = lambda payload: 422 if payload["contact"]["phone"] == refused_phone else None
    await queue_versions(database, 3, range(1))
    dispatcher()

    async with asyncio.timeout(WAIT_S):
        while sorted(str(e.status) for e in await rows(database, CrmEvent)) != ["dead", "sent", "sent"]:
            await asyncio.sleep(0.02)
    [dead] = [e for e in await rows(database, CrmEvent) if e.status == CrmEventStatus.DEAD]
    assert dead.attempts == 1 and (dead.last_error or "").startswith("HTTP 422")
    assert len(receiver.accepted) == 2


async def test_without_a_webhook_events_wait(database: Database) -> None:
    await queue_versions(database, 1, range(1))
    crm = CrmDispatcher(database, None)
    crm.start()
    assert await crm.deliver_due() == 0
    await crm.stop()
    [event] = await rows(database, CrmEvent)
    assert event.status == CrmEventStatus.PENDING and event.attempts == 0


async def test_a_throttling_crm_delays_events_but_never_kills_one(
        database: Database, receiver: CrmReceiver, dispatcher: DispatcherFactory) -> None:
    throttled = 12  # four times the attempts the policy allows
    receiver.answer = lambda _payload: 429 if receiver.failed < throttled else None
    await queue_versions(database, 1, range(2))
    dispatcher(RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05))

    events = await wait_until_all_sent(database, 2)

    assert receiver.failed == throttled
    assert [e.attempts for e in events] == [1, 1]  # the waits were no attempts; the success was one
    assert list(receiver.versions.values()) == [[1, 2]]

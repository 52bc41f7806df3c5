"""Two engines ("processes") on one PostgreSQL store: a dialog's turns never overlap, replies keep order.

Each engine has its own dialog lock instance with its own connections — PostgreSQL
advisory locks, or Redis — as two `sovetnik serve` processes would. Messages of
one dialog arrive alternately at both. With per-process locks only, both engines
would run the dialog's turns at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import URL

from agents.agent import Agent
from agents.answerers.base import Answer
from agents.role_registry import RoleRegistry
from agents.turn import HistoryItem
from bots.engine import ConversationEngine
from bots.locks import DialogLock
from bots.locks.postgres import PostgresDialogLock
from bots.locks.redis import RedisDialogLock
from knowledge.ru.lemmatizer import Lemmatizer
from store import Database
from tests.agents.helpers import DEFAULT_ROLE, EchoAnswerer, dialog_messages, echo, inbound
from tests.redis_server import RedisSpace, redis_space  # noqa: F401
from tests.store.conftest import empty_postgres_database

IDLE_S = 60.0


@dataclass
class OneAtATime(EchoAnswerer):
    """Quotes the question, and records how many turns of the dialog ran at once."""

    running: int = 0
    most: int = 0
    order: list[str] = field(default_factory=list)

    async def answer(self, role: Any, text: str, history: tuple[HistoryItem, ...]) -> Answer:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.03)  # long enough for the other engine to try the same dialog
            return await super().answer(role, text, history)
        finally:
            self.running -= 1


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=[pytest.mark.postgres, pytest.mark.redis])])
async def two_processes(request: pytest.FixtureRequest, roles: RoleRegistry, lemmatizer: Lemmatizer
                        ) -> AsyncIterator[tuple[Database, OneAtATime, list[ConversationEngine]]]:
    """A migrated PostgreSQL store and two engines on it, each with its own lock instance."""
    url: URL = request.getfixturevalue("pg_database")
    empty_postgres_database(url)
    store_url = url.render_as_string(hide_password=False)
    closers: list[Callable[[], Awaitable[object]]] = []
    answerer = OneAtATime()
    engines = []
    for _ in range(2):
        db = Database.from_url(store_url)
        await db.migrate()
        lock: DialogLock
        if request.param == "postgres":
            lock = PostgresDialogLock(db.engine, namespace=request.node.nodeid)
        else:
            space: RedisSpace = request.getfixturevalue("redis_space")
            client = space.client()
            lock = RedisDialogLock(client, space.prefix)
            closers.append(client.aclose)
        engine = ConversationEngine(db, Agent(roles, answerer, lemmatizer), DEFAULT_ROLE, locks=lock)
        engines.append(engine)
        closers[:0] = [engine.close, lock.close, db.dispose]
    try:
        yield engines[0].db, answerer, engines
    finally:
        for close in closers:
            await close()


async def test_a_dialogs_messages_arriving_at_two_processes_are_answered_one_at_a_time_in_order(
        two_processes: tuple[Database, OneAtATime, list[ConversationEngine]]) -> None:
    db, answerer, engines = two_processes
    questions = [f"вопрос {n}" for n in range(1, 9)]
    for n, question in enumerate(questions):
        assert await engines[n % 2].accept(inbound(question, update_id=n, dialog_key="busy"))
    await asyncio.gather(*(engine.idle(IDLE_S) for engine in engines))

    assert answerer.most == 1, "two turns of one dialog ran at once"
    stored = await dialog_messages(db, "busy")
    assert [m.text for m in stored] == [text for q in questions for text in (q, echo(q))]


async def test_a_message_left_by_a_dead_process_is_answered_by_another_without_a_restart(
        two_processes: tuple[Database, OneAtATime, list[ConversationEngine]]) -> None:
    db, answerer, (dying, survivor) = two_processes
    question = "Какие документы нужны для вклада?"
    answerer.hold[question] = asyncio.Event()  # never set: the first turn hangs
    assert await dying.accept(inbound(question, update_id=1, dialog_key="orphan"))
    async with asyncio.timeout(IDLE_S):
        while question not in answerer.started:
            await asyncio.sleep(0.02)
    del answerer.hold[question]  # the survivor's turn will go through
    await dying.close()  # its process is gone mid-turn: the message stays pending
    assert [m.text for m in await dialog_messages(db, "orphan")] == []

    survivor.take_over_periodically(0.3)
    async with asyncio.timeout(IDLE_S):
        while len(await dialog_messages(db, "orphan")) < 2:
            await asyncio.sleep(0.1)
    assert [m.text for m in await dialog_messages(db, "orphan")] == [question, echo(question)]

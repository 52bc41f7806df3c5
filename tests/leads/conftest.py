"""Fixtures of the lead tests: the deal store on SQLite and PostgreSQL, engines, a CRM receiver.

Store fixtures come from `tests/store` (PostgreSQL at 127.0.0.1:5432: skipped
where unreachable, a failure under CI=true). Engines run the real `Agent` over
the shipped roles with a quoting answerer, and the real lead sink built from
settings, so a dialog goes all the way from the lead form to a CRM event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agents.agent import Agent
from agents.role_registry import RoleRegistry
from bots.config import Settings
from bots.engine import ConversationEngine, EngineHooks
from bots.leads import lead_sink
from knowledge.ru.lemmatizer import Lemmatizer
from store import Database
from tests.agents.helpers import REPO_ROOT, ROLES_DIR, EchoAnswerer
from tests.leads.helpers import ROLE
from tests.leads.receiver import CrmReceiver
from tests.store.conftest import database, pg_database, store_url  # noqa: F401

EngineFactory = Callable[..., ConversationEngine]


@pytest.fixture(scope="session")
def roles() -> RoleRegistry:
    """The shipped roles."""
    return RoleRegistry.load_or_raise(ROLES_DIR, "front_desk")


@pytest.fixture(scope="session")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


def lead_settings(**leads: Any) -> Settings:
    """Settings with the given `leads:` section (defaults otherwise)."""
    return Settings.model_validate({"base_dir": REPO_ROOT, "leads": leads})


@pytest.fixture
async def make_engine(database: Database, roles: RoleRegistry,  # noqa: F811 - the fixture
                      lemmatizer: Lemmatizer) -> AsyncIterator[EngineFactory]:
    """Builds engines on the test's database with the lead sink; closed after the test."""
    engines: list[ConversationEngine] = []

    def build(*, settings: Settings | None = None, sink: bool = True,
              managers_channel: str | None = None, hooks: EngineHooks | None = None) -> ConversationEngine:
        settings = settings or lead_settings()
        hooks = hooks or EngineHooks(managers_channel=managers_channel,
                                     leads=lead_sink(settings, roles) if sink else None)
        engine = ConversationEngine(database, Agent(roles, EchoAnswerer(), lemmatizer), ROLE, hooks)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.close()


@pytest.fixture
async def receiver() -> AsyncIterator[CrmReceiver]:
    """A loopback CRM webhook receiver (reliable until a test says otherwise)."""
    async with CrmReceiver() as server:
        yield server

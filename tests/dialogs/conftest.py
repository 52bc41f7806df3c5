"""Fixtures of the dialog suite: the offline agent on the demo knowledge base, a fresh store per dialog.

The demo index and the shipped roles come from the agent tests' fixtures
(indexed once per session); each dialog gets its own SQLite file, engine,
outbox dispatcher and a web chat tab to read the replies from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.agent import Agent
from agents.role_registry import RoleRegistry
from bots import assembly
from bots.config import Settings
from knowledge.index import KnowledgeIndex
from store import Database
from tests.agents.conftest import demo_index, roles  # noqa: F401 - fixtures
from tests.agents.helpers import REPO_ROOT
from tests.dialogs.runner import ChatBench


@pytest.fixture(scope="session")
def dialog_agent(demo_index: KnowledgeIndex, roles: RoleRegistry) -> Agent:  # noqa: F811
    """The agent as the embedded default runs it: offline answerer, sentiment, contacts from the base."""
    agent = assembly.agent(Settings(base_dir=REPO_ROOT), demo_index, roles)
    assert agent.sentiment is not None and agent.sentiment.wait_ready(120), "sentiment warm-up"
    return agent


@pytest.fixture
async def bench(tmp_path: Path, dialog_agent: Agent, roles: RoleRegistry) -> AsyncIterator[ChatBench]:  # noqa: F811
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/dialog.db")
    await db.migrate()
    bench = ChatBench.build(db, dialog_agent, roles)
    try:
        yield bench
    finally:
        await bench.close()
        await db.dispose()

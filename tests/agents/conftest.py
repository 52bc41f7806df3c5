"""Fixtures of the agent acceptance tests.

The demo knowledge base (`knowledge/docs`) is indexed once per session in a
temporary folder, the way `sovetnik kb ingest` does it; agents built on it are
shared. The model behind the LLM path is a loopback `FakeOpenAI`, started per
test and driven through the product's real `ChatOpenAI`. The engine tests run
on a SQLite file and on PostgreSQL (skipped where unreachable, failed under
CI=true) through the fixtures of `tests/store`.

The seed acceptance commands (`seed_job`) start in the background right after
collection when a selected test needs them, so they overlap the demo index
build; both embed with one torch thread, which on a two-core machine is
faster than two processes fighting over two threads each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agents.agent import Agent
from agents.role_registry import RoleRegistry
from bots import assembly
from bots.config import Settings
from knowledge.index import KnowledgeIndex
from knowledge.ru.lemmatizer import Lemmatizer
from tests.agents.helpers import DEFAULT_ROLE, REPO_ROOT, ROLES_DIR, llm_settings
from tests.agents.seed_job import SeedJob, SeedRun, missing_reason, seed_files
from tests.fakes.openai_server import FakeOpenAI
from tests.store.conftest import database, pg_database, store_url  # noqa: F401

_SEED_JOB = pytest.StashKey[SeedJob]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the seed acceptance commands early when a selected test waits for them."""
    if seed_files() and any("seed_run" in getattr(item, "fixturenames", ()) for item in items):
        job = SeedJob()
        config.stash[_SEED_JOB] = job
        job.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    job = config.stash.get(_SEED_JOB, None)
    if job is not None:
        job.close()


@pytest.fixture(scope="session")
def seed_run(pytestconfig: pytest.Config) -> SeedRun:
    """`sovetnik kb ingest` of seeds 001/002 and `sovetnik ask` over the dev set and more."""
    if not seed_files():
        pytest.skip(missing_reason())
    job = pytestconfig.stash.get(_SEED_JOB, None)
    if job is None:
        job = SeedJob()
        pytestconfig.stash[_SEED_JOB] = job
        job.start()
    return job.result()


@pytest.fixture(scope="session")
def demo_index(demo_copy: Callable[[str], Path]) -> KnowledgeIndex:
    """The shipped demo knowledge base: a copy of the run's one build, opened as the product does."""
    return assembly.knowledge_index(Settings(base_dir=REPO_ROOT), demo_copy("demo-index"))


@pytest.fixture(scope="session")
def roles() -> RoleRegistry:
    """The shipped roles."""
    return RoleRegistry.load_or_raise(ROLES_DIR, DEFAULT_ROLE)


@pytest.fixture(scope="session")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


@pytest.fixture(scope="session")
def offline_agent(demo_index: KnowledgeIndex, roles: RoleRegistry) -> Agent:
    """The agent as the embedded default runs it: no LLM, the offline answerer."""
    return assembly.agent(Settings(base_dir=REPO_ROOT), demo_index, roles)


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    """A running fake OpenAI-compatible server."""
    async with FakeOpenAI() as server:
        yield server


LLMAgentFactory = Callable[..., Agent]


@pytest.fixture
async def llm_agent(llm: FakeOpenAI, demo_index: KnowledgeIndex,
                    roles: RoleRegistry) -> AsyncIterator[LLMAgentFactory]:
    """Builds the production LLM agent (with its offline fallback) against the fake model."""
    built: list[Agent] = []

    def build(**limits: object) -> Agent:
        agent = assembly.agent(llm_settings(llm.base_url, **limits), demo_index, roles)  # type: ignore[arg-type]
        built.append(agent)
        return agent

    yield build
    for agent in built:
        await close_chat_model(agent)


async def close_chat_model(agent: Agent) -> None:
    """Close the HTTP connections of the agent's chat model (a long-running app keeps them)."""
    model = getattr(agent.answerer, "model", None)
    client = getattr(model, "root_async_client", None)
    if client is not None:
        await client.close()

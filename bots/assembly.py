"""Builds the product's long-lived components from settings, once, and hands them down."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from bots.config import Settings
from knowledge.embedder import load_embedder
from knowledge.index import KnowledgeIndex

if TYPE_CHECKING:  # the agent side pulls in LangChain: imported only by who builds an agent
    from agents.agent import Agent
    from agents.role_registry import RoleRegistry


def knowledge_index(settings: Settings, index_dir: Path | None = None) -> KnowledgeIndex:
    """The knowledge index at `index_dir` (or the configured one); the model loads lazily."""
    emb = settings.embeddings
    factory = partial(load_embedder, emb.model, query_prefix=emb.query_prefix,
                      passage_prefix=emb.passage_prefix)
    folder = index_dir if index_dir is not None else settings.path(settings.knowledge.index_dir)
    return KnowledgeIndex(folder, factory)


def chat_model(settings: Settings) -> Any | None:
    """The configured LangChain chat model, or None for the offline answerer."""
    llm = settings.llm
    if llm.provider != "openai":
        return None
    from langchain_openai import ChatOpenAI

    key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
    return ChatOpenAI(base_url=llm.base_url, model=llm.model or "", api_key=SecretStr(key),
                      timeout=llm.timeout_s, max_retries=0, temperature=llm.temperature)


def role_registry(settings: Settings) -> RoleRegistry:
    """Agent roles from the configured folder; start-up stops if the default role is broken."""
    from agents.role_registry import RoleRegistry

    return RoleRegistry.load_or_raise(settings.path(settings.agents.roles_dir),
                                      settings.agents.default_role)


def agent(settings: Settings, index: KnowledgeIndex, roles: RoleRegistry | None = None) -> Agent:
    """The agent with the configured answerer (LLM with offline fallback, or offline)."""
    from agents.agent import Agent
    from agents.answerers.base import Answerer
    from agents.answerers.llm import LLMAnswerer, LLMLimits
    from agents.answerers.offline import OfflineAnswerer
    from agents.bank_contacts import BankContacts
    from agents.sentiment import SentimentClassifier
    from bots.leads import consent_text

    offline = OfflineAnswerer(index)
    model = chat_model(settings)
    answerer: Answerer = offline
    if model is not None:
        limits = LLMLimits(settings.llm.max_steps, settings.llm.timeout_s, settings.llm.turn_deadline_s)
        answerer = LLMAnswerer(model, index, offline, limits)
    return Agent(roles or role_registry(settings), answerer, index.lemmatizer, consent_text(settings),
                 contacts=BankContacts(index), sentiment=SentimentClassifier())

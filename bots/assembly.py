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
    from agents.answerers.llm import LLMLimits
    from agents.people import PersonalDirectory
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
    import openai
    from langchain_openai import ChatOpenAI

    profile = llm.profile()
    key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
    # Local servers (llama.cpp, vLLM, Ollama) read `max_tokens`; the client sends the
    # newer `max_completion_tokens`, so they get both.
    extra = {"max_tokens": profile.max_tokens} if llm.server != "hosted" else None
    return ChatOpenAI(base_url=llm.base_url, model=llm.model or "", api_key=SecretStr(key),
                      timeout=profile.timeout_s, max_retries=0, temperature=llm.temperature,
                      max_tokens=profile.max_tokens, extra_body=extra,
                      # Its own connection pool: closing it (`Agent.aclose`) must not close the
                      # client LangChain caches and shares between models of the same URL.
                      http_async_client=openai.DefaultAsyncHttpxClient(timeout=profile.timeout_s))


def role_registry(settings: Settings) -> RoleRegistry:
    """Agent roles from the configured folder; start-up stops if the default role is broken."""
    from agents.role_registry import RoleRegistry

    return RoleRegistry.load_or_raise(settings.path(settings.agents.roles_dir),
                                      settings.agents.default_role)


def agent(settings: Settings, index: KnowledgeIndex, roles: RoleRegistry | None = None,
          people: PersonalDirectory | None = None) -> Agent:
    """The agent with the configured answerer (LLM with offline fallback, or offline).

    `people` lets the LLM answerer check answers against other customers' data.
    """
    from agents.agent import Agent
    from agents.answerers.base import Answerer
    from agents.answerers.llm import LLMAnswerer
    from agents.answerers.offline import OfflineAnswerer
    from agents.bank_contacts import BankContacts
    from agents.sentiment import SentimentClassifier
    from bots.leads import consent_text

    offline = OfflineAnswerer(index)
    model = chat_model(settings)
    answerer: Answerer = offline
    if model is not None:
        answerer = LLMAnswerer(model, index, offline, llm_limits(settings), people=people)
    return Agent(roles or role_registry(settings), answerer, index.lemmatizer, consent_text(settings),
                 contacts=BankContacts(index), sentiment=SentimentClassifier())


def llm_limits(settings: Settings) -> LLMLimits:
    """The LLM answerer's bounds from `llm:` settings (the server kind's profile applied)."""
    from agents.answerers.llm import LLMLimits

    llm, profile = settings.llm, settings.llm.profile()
    return LLMLimits(max_steps=llm.max_steps, call_timeout_s=profile.timeout_s,
                     turn_deadline_s=profile.turn_deadline_s,
                     first_token_timeout_s=profile.first_token_timeout_s, passages=profile.passages,
                     breaker_failures=llm.breaker_failures, breaker_cooldown_s=llm.breaker_cooldown_s)

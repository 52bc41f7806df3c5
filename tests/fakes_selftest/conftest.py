"""Fixtures: each fake server started per test, with a real client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from langchain_openai import ChatOpenAI

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes_selftest.clients import make_bot, make_chat_model


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    """A running fake OpenAI-compatible server."""
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def chat_model(llm: FakeOpenAI) -> ChatOpenAI:
    """``ChatOpenAI`` talking to :func:`llm`."""
    return make_chat_model(llm)


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    """A running fake Telegram Bot API server."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeBotAPI) -> AsyncIterator[Bot]:
    """``Bot`` for :func:`tg`; its HTTP session is closed after the test."""
    instance = make_bot(tg)
    try:
        yield instance
    finally:
        await instance.session.close()

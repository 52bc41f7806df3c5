"""Real clients (ChatOpenAI, aiogram) wired to the loopback fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from langchain_openai import ChatOpenAI

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBotAPI

MODEL = "local-model"  # neutral name: keeps ChatOpenAI on the Chat Completions API
STOP_TIMEOUT_S = 5.0


def make_chat_model(llm: FakeOpenAI, **overrides: Any) -> ChatOpenAI:
    """A real ``ChatOpenAI`` pointed at the fake; no retries, so failures surface at once."""
    settings: dict[str, Any] = {
        "base_url": llm.base_url,
        "api_key": "sk-test",
        "model": MODEL,
        "max_retries": 0,
        "timeout": 5,
        **overrides,
    }
    return ChatOpenAI(**settings)


def make_bot(tg: FakeBotAPI, token: str | None = None) -> Bot:
    """A real aiogram ``Bot`` whose session talks to the fake server."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    return Bot(token or tg.token, session=session)


@asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot, tg: FakeBotAPI) -> AsyncIterator[None]:
    """Run ``dp`` in long-polling mode for the duration of the block."""
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        # Polling can only be stopped once it runs; its first getUpdates proves that.
        await tg.wait_calls("getUpdates", timeout=STOP_TIMEOUT_S)
        yield
    finally:
        if task.done():
            await task  # re-raise whatever ended polling early
        else:
            await asyncio.wait_for(dp.stop_polling(), STOP_TIMEOUT_S)
            await asyncio.wait_for(task, STOP_TIMEOUT_S)

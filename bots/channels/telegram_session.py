"""The HTTP session of the Telegram bot, with aiogram's response models kept alive.

aiogram reads every Bot API answer through ``Response[method.__returning__]``, a
pydantic generic model built on first use and cached by pydantic in a
``WeakValueDictionary``. Nothing else holds those classes, so each garbage
collection drops them, and in a busy process (the engine allocates enough for a
collection between two calls) every call rebuilt its model: about a millisecond
of schema building per call, more on a loaded machine, on every getUpdates,
sendChatAction and sendMessage. Holding each method's model once for the life
of the process makes the cache hit.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response, TelegramMethod

#: Method class → its parametrised response model; only grows by the methods the bot calls.
_RESPONSE_MODELS: dict[type[Any], type[Any]] = {}


async def _keep_response_model(make_request: NextRequestMiddlewareType[Any], bot: Bot,
                               method: TelegramMethod[Any]) -> Response[Any]:
    kind = type(method)
    if kind not in _RESPONSE_MODELS:
        _RESPONSE_MODELS[kind] = Response[method.__returning__]  # type: ignore[name-defined]
    return await make_request(bot, method)


def bot_session(api_url: str) -> AiohttpSession:
    """An aiohttp session for the Bot API at `api_url` whose response models stay cached."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    session.middleware(_keep_response_model)
    return session

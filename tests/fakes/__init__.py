"""Loopback fakes of the external services the product talks to.

Tests drive the real clients (aiogram, LangChain's ``ChatOpenAI``) against these
servers, so only the network boundary is fake.
"""

from tests.fakes.openai_server import FakeOpenAI, delay, error, text, tool_call, tool_calls
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeBotAPI

__all__ = [
    "DEFAULT_TOKEN",
    "FakeBotAPI",
    "FakeOpenAI",
    "delay",
    "error",
    "text",
    "tool_call",
    "tool_calls",
]

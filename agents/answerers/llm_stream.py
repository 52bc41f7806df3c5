"""One model call, streamed: the first token is the liveness signal, then a total bound.

A slow local model may take a minute to read a long prompt and then write
quickly, or stall for ever. Streaming tells the two apart: the call fails
when no token arrives within `first_token_s`, or when the whole answer takes
longer than `call_s`. Leaving the stream (a timeout, a cancelled turn) closes
the HTTP response, and with it the connection, so the server stops working on
an abandoned prompt instead of making the next customer wait behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage


class FirstTokenTimeout(TimeoutError):
    """The model sent no token within the first-token timeout."""


class CallTimeout(TimeoutError):
    """The model's answer took longer than the call timeout."""


@dataclass(frozen=True)
class CallBounds:
    """Time bounds of one model call, in seconds."""

    first_token_s: float
    call_s: float


async def stream_call(model: Any, messages: Sequence[BaseMessage], bounds: CallBounds) -> AIMessage:
    """The model's complete message; raises `FirstTokenTimeout` / `CallTimeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bounds.call_s
    stream = cast(AsyncIterator[AIMessageChunk], model.astream(list(messages)))
    total: AIMessageChunk | None = None
    try:
        total = await _first(stream, min(bounds.first_token_s, bounds.call_s))
        if total is None:
            return AIMessage("")
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in stream:
                    total = total + chunk
        except TimeoutError:
            raise CallTimeout(f"no complete answer within {bounds.call_s:g} s") from None
    finally:
        await _close(stream)
    return _as_message(total)


async def _first(stream: AsyncIterator[AIMessageChunk], timeout_s: float) -> AIMessageChunk | None:
    """Chunks up to and including the first that carries text or a tool call."""
    total: AIMessageChunk | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in stream:
                total = chunk if total is None else total + chunk
                if chunk.content or chunk.tool_call_chunks:
                    return total
    except TimeoutError:
        raise FirstTokenTimeout(f"no token within {timeout_s:g} s") from None
    return total


async def _close(stream: AsyncIterator[AIMessageChunk]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


def _as_message(chunk: AIMessageChunk) -> AIMessage:
    return AIMessage(content=chunk.content, tool_calls=chunk.tool_calls,
                     invalid_tool_calls=chunk.invalid_tool_calls,
                     response_metadata=chunk.response_metadata, id=chunk.id)

"""FakeOpenAI against the real LangChain ``ChatOpenAI`` and ``openai`` clients."""

from __future__ import annotations

import asyncio
import operator
import time
from functools import reduce
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.fakes.openai_server import (
    TEXT_CALL_FORMS,
    FakeOpenAI,
    ToolCall,
    delay,
    error,
    slow,
    text,
    text_tool_call,
    tool_call,
    tool_calls,
)
from tests.fakes_selftest.clients import MODEL, make_chat_model


@tool
def find_branch(city: str) -> str:
    """Find the nearest bank branch in a city."""
    return f"{city}: ул. Баумана, 1"


@tool
def card_limit(card: str) -> str:
    """Look up the daily limit of a card."""
    return f"{card}: 100000 ₽"


class Intent(BaseModel):
    """Classified customer intent."""

    intent: str
    confidence: float


async def test_ainvoke_returns_scripted_text(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(text("Здравствуйте! Чем помочь?"))

    answer = await chat_model.ainvoke("Привет")

    assert answer.content == "Здравствуйте! Чем помочь?"
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["total_tokens"] > 0
    assert llm.requests[0]["model"] == MODEL
    assert llm.requests[0]["messages"] == [{"role": "user", "content": "Привет"}]
    assert llm.pending == 0


async def test_bind_tools_yields_scripted_tool_call(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(tool_call("find_branch", {"city": "Казань"}, id="call_1"))

    answer = await chat_model.bind_tools([find_branch]).ainvoke("Где отделение в Казани?")

    assert answer.tool_calls == [
        {"name": "find_branch", "args": {"city": "Казань"}, "id": "call_1", "type": "tool_call"}
    ]
    assert answer.response_metadata["finish_reason"] == "tool_calls"
    [sent_tool] = llm.requests[0]["tools"]
    assert sent_tool["type"] == "function"
    assert sent_tool["function"]["name"] == "find_branch"


async def test_several_tool_calls_in_one_message(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(
        tool_calls(
            [
                tool_call("find_branch", {"city": "Казань"}),
                ("card_limit", {"card": "МИР"}, "call_limit"),
            ]
        )
    )

    answer = await chat_model.bind_tools([find_branch, card_limit]).ainvoke("?")

    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
        ("find_branch", {"city": "Казань"}),
        ("card_limit", {"card": "МИР"}),
    ]
    assert str(answer.tool_calls[0]["id"]).startswith("call_")
    assert answer.tool_calls[1]["id"] == "call_limit"


async def test_astream_streams_text_in_pieces(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(text("Ваша карта будет готова через три дня."))

    chunks = [chunk async for chunk in chat_model.astream("Когда карта?")]

    assert len([c for c in chunks if c.content]) > 3
    assert "".join(str(c.content) for c in chunks) == "Ваша карта будет готова через три дня."
    assert llm.requests[0]["stream"] is True


async def test_astream_reassembles_tool_call_deltas(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    args = {"city": "Нижний Новгород", "open_now": True}
    llm.script(tool_calls([("find_branch", args, "call_a"), ("card_limit", {"card": "Visa"})]))

    chunks = [c async for c in chat_model.bind_tools([find_branch, card_limit]).astream("?")]

    # Arguments arrive split over several chunks; LangChain must merge them.
    deltas = [c for c in chunks if isinstance(c, AIMessageChunk) and c.tool_call_chunks]
    assert len(deltas) > 4
    merged = reduce(operator.add, chunks)
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        ("find_branch", args),
        ("card_limit", {"card": "Visa"}),
    ]
    assert merged.tool_calls[0]["id"] == "call_a"
    assert merged.response_metadata["finish_reason"] == "tool_calls"


async def test_streamed_usage_is_reported(llm: FakeOpenAI) -> None:
    llm.script(text("Готово"))
    model = make_chat_model(llm, stream_usage=True)

    chunks = [chunk async for chunk in model.astream("Сделай")]

    merged = reduce(operator.add, chunks)
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["output_tokens"] == 1
    assert llm.requests[0]["stream_options"] == {"include_usage": True}


async def test_tool_loop_sends_tool_result_in_next_request(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(
        tool_call("find_branch", {"city": "Казань"}, id="call_branch"),
        text("Ближайшее отделение: ул. Баумана, 1."),
    )
    model = chat_model.bind_tools([find_branch])
    messages: list[BaseMessage] = [HumanMessage("Где отделение в Казани?")]

    first = await model.ainvoke(messages)
    messages.append(first)
    for call in first.tool_calls:
        messages.append(ToolMessage(find_branch.invoke(call["args"]), tool_call_id=call["id"]))
    final = await model.ainvoke(messages)

    assert final.content == "Ближайшее отделение: ул. Баумана, 1."
    second_request = llm.requests[1]["messages"]
    assert second_request[1]["tool_calls"][0]["id"] == "call_branch"
    assert second_request[-1] == {
        "role": "tool",
        "tool_call_id": "call_branch",
        "content": "Казань: ул. Баумана, 1",
    }


async def test_with_structured_output_parses_json_schema_reply(
    llm: FakeOpenAI, chat_model: ChatOpenAI
) -> None:
    llm.script(text('{"intent": "card_block", "confidence": 0.93}'))

    result = await chat_model.with_structured_output(Intent).ainvoke("Заблокируйте карту")

    assert result == Intent(intent="card_block", confidence=0.93)
    assert llm.requests[0]["response_format"]["type"] == "json_schema"


async def test_with_structured_output_via_function_calling(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(tool_call("Intent", {"intent": "balance", "confidence": 0.5}))

    structured = chat_model.with_structured_output(Intent, method="function_calling")
    result = await structured.ainvoke("Сколько денег на счёте?")

    assert result == Intent(intent="balance", confidence=0.5)


async def test_delay_beyond_client_timeout_raises_timeout(llm: FakeOpenAI) -> None:
    llm.script(delay(10, then=text("слишком поздно")))
    model = make_chat_model(llm, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await model.ainvoke("Алло?")

    assert time.monotonic() - started < 3


async def test_short_delay_still_answers(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(delay(0.1, then=text("Ответ")))

    assert (await chat_model.ainvoke("?")).content == "Ответ"


async def test_error_surfaces_as_internal_server_error(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(error(500, "upstream exploded"))

    with pytest.raises(openai.InternalServerError, match="upstream exploded") as caught:
        await chat_model.ainvoke("?")

    assert caught.value.status_code == 500


async def test_rate_limit_error_maps_to_client_class(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(error(429, "Rate limit reached"))

    with pytest.raises(openai.RateLimitError):
        await chat_model.ainvoke("?")


async def test_streamed_request_error_is_raised(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(error(503, "overloaded"))

    with pytest.raises(openai.InternalServerError, match="overloaded"):
        _ = [chunk async for chunk in chat_model.astream("?")]


async def test_unscripted_request_gets_explanatory_500(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="not scripted"):
        await chat_model.ainvoke("Кто-нибудь есть?")

    assert len(llm.unscripted) == 1


async def test_responder_answers_when_queue_is_empty(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    def echo(request: dict[str, Any]) -> str:
        return str(request["messages"][-1]["content"]).upper()

    llm.script(text("из очереди"))
    llm.responder = echo

    first = await chat_model.ainvoke("раз")
    second = await chat_model.ainvoke("два")

    assert (first.content, second.content) == ("из очереди", "ДВА")


async def test_async_responder(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    async def slow_echo(request: dict[str, Any]) -> Any:
        await asyncio.sleep(0.01)
        return tool_call("find_branch", {"city": request["messages"][-1]["content"]})

    llm.responder = slow_echo

    answer = await chat_model.bind_tools([find_branch]).ainvoke("Самара")

    assert answer.tool_calls[0]["args"] == {"city": "Самара"}


async def test_failing_responder_is_reported_on_exit() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise KeyError("no such scenario")

    with pytest.raises(AssertionError, match="responder raised"):
        async with FakeOpenAI() as llm:
            llm.responder = broken
            with pytest.raises(openai.InternalServerError):
                await make_chat_model(llm).ainvoke("?")


async def test_malformed_tool_arguments_reach_the_client(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(tool_call("find_branch", '{"city": "Каз'))

    answer = await chat_model.bind_tools([find_branch]).ainvoke("?")

    assert answer.tool_calls == []
    assert answer.invalid_tool_calls[0]["args"] == '{"city": "Каз'


async def test_unanswered_tool_call_is_rejected_like_the_real_api(
    llm: FakeOpenAI, chat_model: ChatOpenAI
) -> None:
    history: list[BaseMessage] = [
        HumanMessage("?"),
        AIMessage("", tool_calls=[{"name": "find_branch", "args": {}, "id": "call_x"}]),
        HumanMessage("ну что?"),
    ]

    with pytest.raises(openai.BadRequestError, match="call_x"):
        await chat_model.ainvoke(history)


async def test_tool_call_helper_accepts_tool_call_objects(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(tool_calls([ToolCall("card_limit", {"card": "МИР"}, id="c1")], content="Смотрю"))

    answer = await chat_model.bind_tools([card_limit]).ainvoke("?")

    assert answer.content == "Смотрю"
    assert answer.tool_calls[0]["id"] == "c1"


async def test_models_endpoint_and_api_key_check() -> None:
    async with FakeOpenAI(models=["local-model", "embedder"], api_key="sk-right") as llm:
        async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-right") as client:
            models = [model.id async for model in client.models.list()]
        with pytest.raises(openai.AuthenticationError):
            await make_chat_model(llm, api_key="sk-wrong").ainvoke("?")

    assert models == ["local-model", "embedder"]


async def test_wait_requests_bounds_the_wait(llm: FakeOpenAI) -> None:
    with pytest.raises(AssertionError, match="expected 1 chat-completion"):
        await llm.wait_requests(1, timeout=0.05)


@pytest.mark.parametrize("form", TEXT_CALL_FORMS)
async def test_a_tool_call_written_as_text_arrives_as_plain_content(
        llm: FakeOpenAI, chat_model: ChatOpenAI, form: str) -> None:
    llm.script(text_tool_call("find_branch", {"city": "Казань"}, form=form))

    answer = await chat_model.bind_tools([find_branch]).ainvoke("Где отделение в Казани?")

    assert answer.tool_calls == []  # as llama-server returns it: text, finish_reason stop
    assert answer.response_metadata["finish_reason"] == "stop"
    assert "find_branch" in str(answer.content) and "Казань" in str(answer.content)


async def test_slow_stream_takes_its_time_piece_by_piece(llm: FakeOpenAI, chat_model: ChatOpenAI) -> None:
    llm.script(slow(0.1, "раз два три четыре"))

    started = time.monotonic()
    chunks = [chunk async for chunk in chat_model.astream("Считай")]

    assert time.monotonic() - started >= 0.3
    assert "".join(str(c.content) for c in chunks) == "раз два три четыре"


async def test_a_client_that_leaves_cancels_the_handler(llm: FakeOpenAI) -> None:
    llm.script(delay(5, text("поздно")))
    model = make_chat_model(llm, timeout=0.3)

    with pytest.raises(openai.APITimeoutError):
        await model.ainvoke("Привет")

    assert await llm._wait_until(lambda: llm.cancelled == 1, 3.0)

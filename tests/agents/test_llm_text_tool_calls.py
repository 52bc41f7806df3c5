"""Tool calls an open model writes as text are executed, and never reach the customer.

llama-server returns a Qwen model's calls as plain content with
`finish_reason: stop`; the fake writes them the same way, in every form seen.
"""

from __future__ import annotations

import re

import pytest

from agents.tool_text import extract_calls
from tests.agents.conftest import LLMAgentFactory
from tests.agents.helpers import normal
from tests.agents.test_agent_turns import ask, tool_messages
from tests.fakes.openai_server import TEXT_CALL_FORMS, FakeOpenAI, text, text_tool_call

DEPOSIT_ARGS = {"amount": 500000, "rate_percent": 13.5, "months": 12}
CALL_MARKS = re.compile(r"tool_call|<tools>|<function|python_tag|\"name\"|\"arguments\"|"
                        r"deposit_calculator|knowledge_search|handoff\(|```")


def assert_no_call_text(answer: str) -> None:
    assert not CALL_MARKS.search(answer), answer


@pytest.mark.parametrize("form", TEXT_CALL_FORMS)
async def test_a_calculator_call_written_as_text_is_executed(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, form: str) -> None:
    llm.script(text_tool_call("deposit_calculator", DEPOSIT_ARGS, form=form),
               text("Ориентировочный доход за 12 месяцев составит 67 500 ₽."))

    reply = await ask(llm_agent(), "Сколько я получу, если положу 500 000 на год под 13,5 процента?")

    assert len(llm.requests) == 2
    results = tool_messages(llm.requests[1])
    assert len(results) == 1 and "67 500" in normal(results[0]), results  # the tool really ran
    assert reply.mode == "llm" and reply.grounded
    assert "67 500" in normal(reply.text)
    assert "tool:deposit_calculator" in reply.notes
    assert_no_call_text(reply.text)


@pytest.mark.parametrize("form", TEXT_CALL_FORMS)
async def test_a_handoff_written_as_text_hands_the_dialog_over(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, form: str) -> None:
    llm.script(text_tool_call("handoff", {"reason": "клиент просит сложный расчёт"}, form=form),
               text("Передаю ваш вопрос менеджеру."))

    reply = await ask(llm_agent(), "Подскажите по досрочному закрытию вклада в особом случае")

    assert reply.handoff is True
    assert_no_call_text(reply.text)


async def test_a_model_that_only_ever_writes_calls_never_shows_one(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    forms = iter(TEXT_CALL_FORMS * 3)
    llm.responder = lambda body: text_tool_call("knowledge_search", {"query": "страхование"},
                                                form=next(forms))

    reply = await ask(llm_agent(max_steps=3), "Какая сумма вкладов застрахована государством?")

    assert reply.mode == "offline"  # the step limit: the honest fallback, not the call text
    assert "1,4 млн" in normal(reply.text)
    assert_no_call_text(reply.text)


async def test_an_answer_that_still_looks_like_a_call_is_replaced(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    half_call = 'Вот вызов: {"name": "deposit_calculator", "arguments": {"amount": '
    llm.script(text(half_call), text(half_call))

    reply = await ask(llm_agent(), "Сколько я получу по вкладу на год?")

    assert "rejected:tool_call_text" in reply.notes
    assert_no_call_text(reply.text)
    assert "deposit_calculator" not in reply.text


async def test_an_off_allowlist_call_in_text_is_refused(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text_tool_call("loan_calculator", {"amount": 100000, "rate_percent": 20, "months": 12},
                              form="tool_call_tag"),
               text("По вкладам я могу рассказать об условиях из базы знаний."))

    reply = await ask(llm_agent(), "Сколько я получу по вкладу на год?")  # a deposit role

    assert "недоступен" in tool_messages(llm.requests[1])[0]
    assert "tool:loan_calculator" not in reply.notes
    assert "tool_refused:loan_calculator" in reply.notes


def test_prose_with_parentheses_is_not_a_call() -> None:
    names = frozenset({"deposit_calculator", "handoff"})
    assert extract_calls("Ставка (13,5 %) действует при сроке (12 месяцев).", names) == []
    assert extract_calls("Доход считается так: сумма × ставка × срок / 365.", names) == []


def test_several_calls_in_one_text_are_all_read() -> None:
    content = ('<tool_call>{"name": "knowledge_search", "arguments": {"query": "ставки"}}</tool_call>\n'
               '<tool_call>{"name": "deposit_calculator", "arguments": {"amount": 1, "months": 2}}'
               '</tool_call>')
    calls = extract_calls(content, frozenset())
    assert [c.name for c in calls] == ["knowledge_search", "deposit_calculator"]
    assert calls[1].args == {"amount": 1, "months": 2}

"""Agent turns through the product's LLM path: real `ChatOpenAI` against a loopback fake model.

What is checked is what a customer or a manager would notice: the figure in the
answer, whether it is backed by the knowledge base, who answers, and whether the
dialog goes to a person.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from agents.agent import Agent
from agents.turn import DialogState, HistoryItem, Reply, TurnInput
from tests.agents.conftest import LLMAgentFactory
from tests.agents.helpers import PHONE_SPOKEN, PHONE_STORED, normal
from tests.fakes.openai_server import FakeOpenAI, delay, error, text, tool_call

TURN_LIMIT_S = 30.0
INSURANCE_QUESTION = "Какая сумма вкладов застрахована государством?"
RATE_QUESTION = "Какая ставка по вкладу «Вершина Доходный» на 12 месяцев?"


async def ask(agent: Agent, question: str, role: str = "deposit_consultant",
              state: DialogState | None = None, history: Sequence[HistoryItem] = ()) -> Reply:
    """One agent turn, never allowed to hang."""
    async with asyncio.timeout(TURN_LIMIT_S):
        return await agent.respond(TurnInput(question, role, tuple(history), state or DialogState()))


async def converse(agent: Agent, messages: Sequence[str], role: str = "front_desk") -> list[Reply]:
    """A dialog: each reply's role, state and the history carry over to the next message."""
    state, history, replies = DialogState(), list[HistoryItem](), list[Reply]()
    for message in messages:
        reply = await ask(agent, message, role, state, history)
        replies.append(reply)
        history += [HistoryItem("customer", message), HistoryItem("agent", reply.text)]
        role, state = reply.role, reply.state
    return replies


def tool_messages(request: dict) -> list[str]:
    return [m.get("content") or "" for m in request["messages"] if m["role"] == "tool"]


def offered_tools(request: dict) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools", [])}


# -- the tool loop ----------------------------------------------------------------------


async def test_calculator_result_reaches_the_model_and_the_answer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(
        tool_call("deposit_calculator", {"amount": 500000, "rate_percent": 13.5, "months": 12}),
        text("Ориентировочный доход за 12 месяцев составит 67 500 ₽."),
    )

    reply = await ask(llm_agent(), "Сколько я получу, если положу полмиллиона на год под 13,5 процента?")

    assert len(llm.requests) == 2
    assert "deposit_calculator" in offered_tools(llm.requests[0])
    results = tool_messages(llm.requests[1])
    assert len(results) == 1 and "67 500" in normal(results[0]), results
    assert reply.mode == "llm"
    assert reply.grounded
    assert "67 500" in normal(reply.text)
    assert not reply.handoff


async def test_answer_may_repeat_the_customers_own_figures(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    answer = "По вкладу 500 000 ₽ на 12 месяцев под 13,5 % годовых доход составит 67 500 ₽."
    llm.script(tool_call("deposit_calculator", {"amount": 500000, "rate_percent": 13.5, "months": 12}),
               text(answer), text(answer))

    reply = await ask(llm_agent(), "Сколько я получу по вкладу 500 тыс на год под 13,5%?")

    assert reply.grounded
    assert "67 500" in normal(reply.text)


# -- the model misbehaves; the customer still gets an answer ---------------------------


async def test_endless_tool_calls_end_in_the_offline_answer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.responder = lambda body: tool_call("knowledge_search", {"query": "страхование вкладов"})

    reply = await ask(llm_agent(max_steps=3), INSURANCE_QUESTION)

    assert len(llm.requests) == 3  # the step limit, then no more model calls
    assert reply.mode == "offline"
    assert any(note.startswith("llm_fallback") for note in reply.notes), reply.notes
    assert reply.grounded
    assert "1,4 млн" in normal(reply.text)


@pytest.mark.parametrize("failure", [
    pytest.param(delay(10, text("Слишком поздно.")), id="timeout"),
    pytest.param(error(500), id="server-error"),
])
async def test_model_failure_falls_back_to_the_offline_answer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, failure: object) -> None:
    llm.script(failure)  # type: ignore[arg-type]
    agent = llm_agent(timeout_s=0.5)

    started = time.monotonic()
    reply = await ask(agent, INSURANCE_QUESTION)

    assert time.monotonic() - started < 5.0
    assert len(llm.requests) == 1
    assert reply.mode == "offline"
    assert any(note.startswith("llm_fallback") for note in reply.notes), reply.notes
    assert "1,4 млн" in normal(reply.text)
    assert "поздно" not in normal(reply.text)


# -- grounding -------------------------------------------------------------------------------


async def test_invented_rate_never_reaches_the_customer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text("Ставка по вкладу — 25 % годовых."), text("Ставка по вкладу — 25 % годовых."))

    reply = await ask(llm_agent(), RATE_QUESTION)

    assert len(llm.requests) == 2  # one chance to answer again from the materials
    assert "25" not in reply.text
    assert reply.grounded is False
    assert "менеджер" in normal(reply.text) or any("менеджер" in normal(q) for q in reply.quick_replies)
    assert not reply.handoff  # offered, not forced, after the first miss


async def test_regenerated_answer_from_the_passages_is_accepted(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(
        text("Ставка по вкладу — 25 % годовых."),
        text("По вкладу «Вершина Доходный» на 12 месяцев ставка 13,5 % годовых, "
             "проценты выплачиваются в конце срока."),
    )

    reply = await ask(llm_agent(), RATE_QUESTION)

    assert len(llm.requests) == 2
    assert reply.grounded is True
    assert reply.mode == "llm"
    assert "13,5 %" in normal(reply.text)
    assert "25" not in reply.text
    assert any(s.source.startswith("deposits/") for s in reply.sources), reply.sources


# -- handoff -------------------------------------------------------------------------------


@pytest.fixture(params=["llm", "offline"])
def any_agent(request: pytest.FixtureRequest, llm_agent: LLMAgentFactory, offline_agent: Agent) -> Agent:
    return llm_agent() if request.param == "llm" else offline_agent


async def test_asking_for_a_manager_hands_off(llm: FakeOpenAI, any_agent: Agent) -> None:
    reply = await ask(any_agent, "Позовите менеджера, пожалуйста", role="front_desk")

    assert reply.handoff is True
    assert reply.handoff_reason == "request"
    assert "менеджер" in normal(reply.text)
    assert llm.requests == []  # the decision does not depend on a model


async def test_a_complaint_hands_off(llm: FakeOpenAI, any_agent: Agent) -> None:
    reply = await ask(any_agent, "У меня жалоба: с карты дважды списали деньги за перевод",
                      role="front_desk")

    assert reply.handoff is True
    assert reply.handoff_reason == "complaint"
    assert llm.requests == []


# -- routing ---------------------------------------------------------------------------------


async def test_front_desk_routes_a_deposit_question_to_the_deposit_consultant(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text("У нас есть срочные вклады и накопительный счёт."))

    reply = await ask(llm_agent(), "Какие вклады есть в вашем банке?", role="front_desk")

    assert reply.role == "deposit_consultant"
    assert reply.mode == "llm"
    assert "deposit_calculator" in offered_tools(llm.requests[0])


async def test_a_change_of_topic_moves_the_dialog_to_the_loan_manager(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(
        text("По вкладу «Вершина Доходный» на 12 месяцев ставка 13,5 % годовых."),
        text("Условия ипотеки зависят от первоначального взноса и выбранного объекта."),
    )

    first, second = await converse(llm_agent(), [RATE_QUESTION, "А какие у вас условия по ипотеке?"],
                                   role="deposit_consultant")

    assert first.role == "deposit_consultant" and first.grounded
    assert second.role == "loan_manager"
    assert second.mode == "llm" and second.grounded
    tools = offered_tools(llm.requests[1])
    assert "loan_calculator" in tools and "deposit_calculator" not in tools
    assert "кредитный менеджер" in normal(llm.requests[1]["messages"][0]["content"])


# -- the lead form ---------------------------------------------------------------------------


async def test_lead_form_collects_a_lead_across_turns(llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    replies = await converse(llm_agent(), [
        "Хочу открыть вклад", "Согласен", "Анна", PHONE_SPOKEN, "Пропустить", "Пропустить",
        "Да, всё верно", "Спасибо!",
    ])
    consent, name, phone, amount, term, review, done, thanks = replies

    assert consent.role == "deposit_consultant"
    assert "согласие" in normal(consent.text) and consent.lead_completed is None
    assert "обращаться" in normal(name.text)
    assert "телефон" in normal(phone.text)
    assert "сумм" in normal(amount.text) and "Пропустить" in amount.quick_replies
    assert "срок" in normal(term.text)
    assert "проверьте" in normal(review.text) and review.lead_completed is None
    assert all(not r.handoff for r in replies)

    lead = done.lead_completed
    assert lead is not None
    assert lead.fields["name"] == "Анна"
    assert lead.fields["phone"] == PHONE_STORED
    assert lead.consent is True
    # The deal waits for a manager in the deal store; the dialog stays with the bot.
    assert "lead_completed" in done.notes
    assert "+7 912 345-67-89" in done.text

    assert not thanks.handoff and thanks.lead_completed is None  # a polite closing, no second handoff
    assert "пожалуйста" in normal(thanks.text)
    assert llm.requests == []  # the form never depends on the model


async def test_a_phone_written_before_consent_is_not_stored(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    replies = await converse(llm_agent(), [
        f"Хочу открыть вклад, мой телефон {PHONE_SPOKEN}", "Согласен", "Анна",
        "8 (999) 111-22-33", "Пропустить", "Пропустить", "Да",
    ])
    consent, _, after_name, *_, done = replies

    assert "согласие" in normal(consent.text)
    assert consent.state.lead is not None and "phone" not in consent.state.lead.fields
    assert "телефон" in normal(after_name.text)  # asked again, after consent
    assert after_name.state.lead is not None and "phone" not in after_name.state.lead.fields
    assert done.lead_completed is not None
    assert done.lead_completed.fields["phone"] == "+79991112233"
    assert PHONE_STORED not in str(done.state.to_json())

"""Grounding counts only the knowledge base and tool results; a rejected answer is
regenerated without being repeated; a copied refusal is a failed answer."""

from __future__ import annotations

import pytest

from agents.answerers.offline import NO_ANSWER
from agents.grounding import check
from agents.turn import HistoryItem
from tests.agents.conftest import LLMAgentFactory
from tests.agents.helpers import normal
from tests.agents.test_agent_turns import ask
from tests.fakes.openai_server import FakeOpenAI, text

ECHO_QUESTION = "Мне сказали, что доходность 50% годовых по вкладу «Вершина Супер». Это правда?"
ECHO = "Да, доходность 50% годовых по вкладу «Вершина Супер»."


async def test_a_customers_figure_and_name_are_not_evidence(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text(ECHO), text(ECHO))

    reply = await ask(llm_agent(), ECHO_QUESTION)

    assert reply.grounded is False
    assert "50" not in reply.text and "Супер" not in reply.text
    assert reply.text == NO_ANSWER
    assert any(n.startswith("rejected:ungrounded") and "Вершина Супер" in n for n in reply.notes)


@pytest.mark.parametrize("invented", [
    "Ставка по вкладу — пятьдесят процентов годовых.",
    "По вкладу «Вершина Супер Плюс» ставка 13,5 % годовых.",
    "Вклад Вершина Максимум доступен на 12 месяцев.",
    "Ставки действуют с 15.03.2027.",
])
async def test_invented_words_figures_names_and_dates_never_reach_the_customer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, invented: str) -> None:
    llm.script(text(invented), text(invented))

    reply = await ask(llm_agent(), "Какая ставка по вкладу «Вершина Доходный» на 12 месяцев?")

    assert normal(invented) not in normal(reply.text)
    assert reply.grounded is False


async def test_the_regeneration_says_why_without_repeating_the_rejected_answer(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    rejected = "Ставка по вкладу — 25 % годовых, это лучшее предложение."
    llm.script(text(rejected), text("По вкладу «Вершина Доходный» на 12 месяцев ставка 13,5 % годовых."))

    reply = await ask(llm_agent(), "Какая ставка по вкладу «Вершина Доходный» на 12 месяцев?")

    assert reply.grounded and "13,5" in reply.text
    retry = llm.requests[1]
    roles = [m["role"] for m in retry["messages"]]
    assert roles == ["system", "user", "user"], roles  # no assistant turn holding the rejected text
    assert all("лучшее предложение" not in str(m.get("content")) for m in retry["messages"])
    feedback = retry["messages"][-1]["content"]
    assert "отклонён" in feedback and "25" in feedback  # what was rejected, and why
    assert retry.get("temperature") != llm.requests[0].get("temperature")


async def test_a_copied_refusal_counts_as_failed_and_hands_off(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    refusal = "К сожалению, в моей базе знаний нет точного ответа на этот вопрос."
    llm.script(text(refusal), text(refusal))
    agent = llm_agent()
    history = [HistoryItem("customer", "Что такое вклад «Вершина Звезда»?"), HistoryItem("agent", refusal)]

    first = await ask(agent, "Есть ли у вас вклад для пенсионеров?", history=history)
    second = await ask(agent, "А вклад для студентов?", state=first.state,
                       history=[*history, HistoryItem("customer", "Есть ли у вас вклад для пенсионеров?"),
                                HistoryItem("agent", first.text)])

    assert first.state.failed_answers == 1 and not first.handoff
    assert second.handoff is True and second.handoff_reason == "no_answer"


# -- the check itself -----------------------------------------------------------------------

EVIDENCE = ["Вклад «Вершина Доходный»: 13,5 % годовых на 12 месяцев. Ставки действуют с 1 декабря "
            "2026 года. Вклады застрахованы до 1,4 млн ₽."]


@pytest.mark.parametrize("answer", [
    "Ставка 13,5 % на 12 месяцев.",
    "Ставка тринадцать с половиной процентов на двенадцать месяцев.",
    "Застраховано до одного миллиона четырёхсот тысяч рублей.",
    "Ставки действуют с 01.12.2026.",
    "По вкладу Вершина Доходный ставка 13,5 %.",
    "Один из вкладов — «Вершина Доходный».",
])
def test_traced_figures_pass_in_any_spelling(answer: str) -> None:
    assert check(answer, EVIDENCE).grounded, check(answer, EVIDENCE)


@pytest.mark.parametrize(("answer", "untraced"), [
    ("Ставка пятьдесят процентов.", "пятьдесят"),
    ("Ставка 50 %.", "50"),
    ("Полтора миллиона застраховано.", "полтора миллиона"),
    ("Ставки действуют с 5 января 2027.", "5 января 2027"),
    ("Вклад Вершина Супер.", "Вершина Супер"),
    ("Вклад «Золотой».", "Золотой"),
])
def test_untraced_figures_dates_and_names_are_reported(answer: str, untraced: str) -> None:
    assert untraced in check(answer, EVIDENCE).items

"""Agent turns in a `redirect` channel (a foreign messenger): no lead form, a lawful-channel offer.

Offline and through the LLM path (real `ChatOpenAI` against the loopback fake
model): asking to open a deposit parks the form's non-personal fields and
offers a lawful channel, never the consent question or a phone request; other
questions are still answered.
"""

from __future__ import annotations

import asyncio

import pytest

from agents.agent import Agent
from agents.leadform import ELSEWHERE
from agents.turn import DialogState, Reply, TurnInput
from tests.agents.conftest import LLMAgentFactory
from tests.fakes.openai_server import FakeOpenAI, text, tool_call

TURN_LIMIT_S = 30.0


async def _say(agent: Agent, message: str, state: DialogState, role: str = "front_desk",
               form_text: str = "") -> Reply:
    async with asyncio.timeout(TURN_LIMIT_S):
        return await agent.respond(TurnInput(message, role, (), state, channel="telegram",
                                             form_text=form_text, personal_data="redirect"))


def _offered(reply: Reply) -> bool:
    return "lawful_channel" in reply.notes and not reply.request_phone \
        and "согласие" not in reply.text and "телефон" not in " ".join(reply.quick_replies)


async def test_asking_to_open_a_deposit_gets_the_offer_and_keeps_the_amount(offline_agent: Agent) -> None:
    reply = await _say(offline_agent, "Хочу открыть вклад на 500 тысяч на год", DialogState())

    assert _offered(reply), reply
    assert "иностранные мессенджеры" in reply.text
    lead = reply.state.lead
    assert lead is not None and lead.asking == ELSEWHERE and not lead.consent
    assert lead.fields == {"amount": "500000 RUB", "term": "12 мес."}


async def test_a_question_while_the_offer_waits_is_answered(offline_agent: Agent) -> None:
    offer = await _say(offline_agent, "Хочу открыть вклад", DialogState())
    answer = await _say(offline_agent, "Какая сумма вкладов застрахована?", offer.state, offer.role)

    assert "lawful_channel" not in answer.notes
    assert "1,4" in answer.text or "1 400 000" in answer.text.replace("\xa0", " "), answer.text
    assert answer.state.lead is not None and answer.state.lead.asking == ELSEWHERE


async def test_personal_data_typed_anyway_is_said_to_be_not_kept(offline_agent: Agent) -> None:
    offer = await _say(offline_agent, "Хочу открыть вклад", DialogState())
    again = await _say(offline_agent, "Меня зовут [имя], телефон +7 *** ***-**-**", offer.state, offer.role,
                       form_text="Меня зовут Анна, телефон +7 912 345-67-89")

    assert _offered(again) and "не сохранены" in again.text
    assert again.state.lead is not None and again.state.lead.fields == {}


async def test_a_card_number_while_the_offer_waits_asks_no_consent(offline_agent: Agent) -> None:
    offer = await _say(offline_agent, "Хочу открыть вклад", DialogState())
    warned = await _say(offline_agent, "Моя карта [номер карты скрыт]", offer.state, offer.role)

    assert "card_data" in warned.notes and warned.followups == ()


@pytest.mark.parametrize("message, tool", [
    ("Интересует ваш вклад на год, давайте", True),            # the model decides: the lead tool
    ("Я бы хотел положить деньги под процент, оформите мне вклад", False),  # the words decide
], ids=["lead tool", "words"])
async def test_the_llm_path_offers_a_lawful_channel_too(llm: FakeOpenAI, llm_agent: LLMAgentFactory,
                                                       message: str, tool: bool) -> None:
    if tool:
        llm.script(tool_call("lead_form", {"start": True, "amount": "300000"}), text("Оформим вклад."))
    else:
        llm.responder = lambda body: "Конечно, помогу."
    reply = await _say(llm_agent(), message, DialogState(), "deposit_consultant")

    assert _offered(reply), reply
    assert bool(llm.requests) == tool  # the words alone never reach the model


async def test_personal_data_in_the_request_itself_is_said_to_be_not_kept(offline_agent: Agent) -> None:
    reply = await _say(offline_agent, "Хочу открыть вклад, мой телефон +7 *** ***-**-**", DialogState(),
                       form_text="Хочу открыть вклад, мой телефон +7 912 345-67-89")

    assert _offered(reply) and reply.text.startswith("Личные данные, которые вы написали, скрыты")
    assert reply.state.lead is not None and reply.state.lead.fields == {}

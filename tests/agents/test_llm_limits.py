"""Limits that fit a slow model: max_tokens, a first-token liveness signal, real cancellation,
and a circuit breaker that says when LLM mode is offline for a while."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.agents.conftest import LLMAgentFactory
from tests.agents.helpers import normal
from tests.agents.test_agent_turns import INSURANCE_QUESTION, ask
from tests.fakes.openai_server import FakeOpenAI, delay, error, slow, text

ANSWER = "Вклады застрахованы на сумму до 1,4 млн ₽ в одном банке."


def fallback_reason(notes: tuple[str, ...]) -> str:
    return next((n.removeprefix("llm_fallback:") for n in notes if n.startswith("llm_fallback:")), "")


async def test_every_request_is_streamed_and_bounded_in_tokens(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text(ANSWER))

    reply = await ask(llm_agent(server="local_cpu"), INSURANCE_QUESTION)

    body = llm.requests[0]
    assert body["stream"] is True
    assert body["max_tokens"] == 256 and body["max_completion_tokens"] == 256  # local_cpu profile
    assert reply.mode == "llm"


async def test_an_explicit_max_tokens_overrides_the_profile(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(text(ANSWER))

    await ask(llm_agent(max_tokens=96), INSURANCE_QUESTION)

    assert llm.requests[0]["max_completion_tokens"] == 96
    assert "max_tokens" not in llm.requests[0]  # a hosted API gets only the current parameter


async def test_no_first_token_falls_back_and_stops_the_servers_work(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(delay(10, text("Слишком поздно.")))
    agent = llm_agent(first_token_timeout_s=0.5, timeout_s=8.0)

    reply = await ask(agent, INSURANCE_QUESTION)

    assert reply.mode == "offline"
    assert fallback_reason(reply.notes).startswith("FirstTokenTimeout")
    assert "1,4 млн" in normal(reply.text)
    await llm._wait_until(lambda: llm.cancelled == 1, 3.0)
    assert llm.cancelled == 1  # the connection was closed: the server stopped generating


async def test_a_slow_but_live_stream_is_waited_for(llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(slow(0.08, ANSWER))  # ~1 s in all, the first token at once
    agent = llm_agent(first_token_timeout_s=0.3, timeout_s=5.0)

    reply = await ask(agent, INSURANCE_QUESTION)

    assert reply.mode == "llm", reply.notes
    assert normal(reply.text) == normal(ANSWER)


async def test_a_stream_that_never_ends_is_cut_at_the_call_timeout(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory) -> None:
    llm.script(slow(0.5, ANSWER * 5))
    agent = llm_agent(first_token_timeout_s=2.0, timeout_s=1.0)

    reply = await ask(agent, INSURANCE_QUESTION)

    assert reply.mode == "offline"
    assert fallback_reason(reply.notes).startswith("CallTimeout")
    await llm._wait_until(lambda: llm.cancelled == 1, 3.0)
    assert llm.cancelled == 1


async def test_a_failure_is_logged_with_its_message(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, caplog: pytest.LogCaptureFixture) -> None:
    llm.script(error(503, "the model is loading, retry later"))

    with caplog.at_level(logging.WARNING, logger="agents"):
        reply = await ask(llm_agent(), INSURANCE_QUESTION)

    assert "the model is loading" in fallback_reason(reply.notes)
    assert any("the model is loading" in r.getMessage() for r in caplog.records), caplog.text
    assert "sk-test" not in caplog.text


async def test_repeated_failures_degrade_to_offline_for_a_period_logged_once(
        llm: FakeOpenAI, llm_agent: LLMAgentFactory, caplog: pytest.LogCaptureFixture) -> None:
    llm.script(error(500), error(500))
    agent = llm_agent(breaker_failures=2, breaker_cooldown_s=0.6)

    with caplog.at_level(logging.WARNING, logger="agents"):
        replies = [await ask(agent, INSURANCE_QUESTION) for _ in range(4)]
        assert len(llm.requests) == 2  # the last two turns did not wait for a dead model
        assert [fallback_reason(r.notes).split(":")[0] for r in replies[2:]] == ["circuit_open"] * 2
        await asyncio.sleep(0.7)
        llm.script(text(ANSWER))
        recovered = await ask(agent, INSURANCE_QUESTION)

    assert all(r.mode == "offline" and "1,4 млн" in normal(r.text) for r in replies)
    assert recovered.mode == "llm"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("degraded to offline" in m for m in messages) == 1, messages
    assert sum("restored" in m for m in messages) == 1, messages


def test_a_failed_trial_after_the_cooldown_keeps_the_breaker_open(caplog: pytest.LogCaptureFixture) -> None:
    from agents.answerers.breaker import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="agents"):
        breaker.record_failure("a")
        assert breaker.allow() and not breaker.is_open
        breaker.record_failure("b")
        assert not breaker.allow()
        now[0] = 61.0
        assert breaker.allow()  # one trial
        breaker.record_failure("c")
        assert not breaker.allow()  # offline for another period
        now[0] = 122.0
        breaker.record_success()
    assert breaker.allow() and not breaker.is_open
    assert [r.getMessage().split()[2].strip(":") for r in caplog.records] == ["degraded", "restored"]

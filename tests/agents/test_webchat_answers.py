"""Questions a new customer asks in the web chat, answered from the demo knowledge base.

Each dialog runs through the real web app (uvicorn on 127.0.0.1, the chat's
WebSocket, the engine, the offline answerer) and checks what the customer
reads: the fact, whole; never «нет точного ответа» where the knowledge base
has the answer, never a knowledge-base example in place of a calculation.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import aiohttp
import pytest

from bots.config import Settings
from bots.runtime import Runtime
from bots.web.app import create_app
from pipelines.ingest.run import ingest
from tests.agents.helpers import REPO_ROOT, normal

START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 60.0
NO_ANSWER = "нет точного ответа"


@dataclass(frozen=True)
class Chat:
    """The running web app's address."""

    base: str


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    import uvicorn

    root = tmp_path_factory.mktemp("webchat-answers")
    settings = Settings.model_validate({
        "store": {"url": f"sqlite+aiosqlite:///{root / 'sovetnik.db'}"},
        "knowledge": {"docs_dir": str(REPO_ROOT / "knowledge" / "docs"), "index_dir": str(root / "index")},
        "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles"), "default_role": "front_desk"},
        "llm": {"provider": "offline"},
        "channels": {"telegram": {"enabled": False}, "webchat": {"enabled": True}},
        "base_dir": root,
    })
    runtime = Runtime.build(settings)
    ingest([settings.path(settings.knowledge.docs_dir).resolve()], runtime.index,
           embedder_config=settings.embeddings.model)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield Chat(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        shutil.rmtree(root, ignore_errors=True)


async def converse(chat: Chat, lines: list[str]) -> list[str]:
    """A fresh customer sends `lines` one by one; the bot's reply to each."""
    ids = count()
    replies: list[str] = []
    # unsafe: keep cookies of an IP-address host (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{chat.base}/") as page:
            assert page.status == 200
        async with session.ws_connect(f"{chat.base}/ws/chat", origin=chat.base) as ws:
            for line in lines:
                await ws.send_str(json.dumps({"type": "message", "id": f"m{next(ids)}", "text": line}))
                replies.append(await _bot_reply(ws))
    return replies


async def _bot_reply(ws: aiohttp.ClientWebSocketResponse) -> str:
    while True:
        raw = await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT_S)
        assert raw.type == aiohttp.WSMsgType.TEXT, raw
        frame = json.loads(raw.data)
        if frame.get("type") == "message" and frame.get("author") != "customer":
            return str(frame["text"])


def ask(chat: Chat, *lines: str) -> list[str]:
    return asyncio.run(converse(chat, list(lines)))


async def _messages(chat: Chat, line: str, n: int) -> list[str]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{chat.base}/") as page:
            assert page.status == 200
        async with session.ws_connect(f"{chat.base}/ws/chat", origin=chat.base) as ws:
            await ws.send_str(json.dumps({"type": "message", "id": "m0", "text": line}))
            return [await _bot_reply(ws) for _ in range(n)]


def ask_for_messages(chat: Chat, line: str, n: int) -> list[str]:
    """The first `n` bot messages after one customer message (an answer and its follow-up)."""
    return asyncio.run(_messages(chat, line, n))


def test_which_deposits_and_their_rates_lists_every_deposit_with_a_rate(chat: Chat) -> None:
    (reply,) = ask(chat, "какие вклады у вас есть и какие ставки")
    text = normal(reply)
    for name in ("вершина доходный", "вершина гибкий", "накопительный", "вершина валютный"):
        assert name in text, reply
    assert "15,0 %" in reply and "12,0 %" in reply, reply


def test_a_stated_need_picks_the_deposit_that_meets_it(chat: Chat) -> None:
    (reply,) = ask(chat, "какой вклад посоветуете, чтоб можно было пополнять")
    first = normal(reply.split("\n")[0])
    assert "гибкий" in first and "доходный" not in first, reply


def test_mortgage_rate_and_down_payment(chat: Chat) -> None:
    rate, down = ask(chat, "какая ставка по ипотеке", "а первоначальный взнос какой?")
    assert "17,5 %" in rate and "демонстрационный" not in normal(rate), rate
    assert "20 %" in down, down


def test_dollar_deposit_question_gets_the_currency_deposit(chat: Chat) -> None:
    (reply,) = ask(chat, "вклад в долларах есть?")
    assert "юан" in normal(reply) and NO_ANSWER not in normal(reply), reply


def test_saturday_question_gets_what_the_bank_says_about_weekends(chat: Chat) -> None:
    (reply,) = ask(chat, "а в субботу работаете?")
    assert "выходн" in normal(reply) and "8 800 000-00-00" in reply, reply


def test_exchange_office_question_gets_the_whole_address(chat: Chat) -> None:
    (reply,) = ask(chat, "где обменник")
    assert "ул. Набережная, д. 8" in reply and "обмен валюты" in reply, reply


def test_complaints_address_is_given_not_a_handoff(chat: Chat) -> None:
    (reply,) = ask(chat, "куда писать жалобу")
    assert "claims@bank-vershina.example" in reply, reply


def test_what_to_bring_to_a_branch(chat: Chat) -> None:
    (reply,) = ask(chat, "что с собой взять в отделение")
    assert "паспорт" in normal(reply), reply


def test_loan_payment_without_a_rate_uses_the_banks_rate(chat: Chat) -> None:
    payment, again = ask(chat, "нужен кредит 500к на 3 года, какой платёж?",
                         "посчитайте 500 тыс на 3 года под 19,9")
    # 500 000 ₽, 36 months, 19,9 %: an annuity of 18 556,33 ₽.
    assert "18 556" in normal(payment) and "19,9 %" in normal(payment), payment
    assert "примерн" in normal(payment), payment
    assert "18 556" in normal(again) and "13 200" not in normal(again), again


def test_the_six_month_rate_is_the_row_asked_for(chat: Chat) -> None:
    (reply,) = ask(chat, "какая ставка по доходному на полгода")
    assert "14,5 %" in reply and "13,5 %" not in reply, reply


def test_a_follow_up_stays_on_the_deposit_talked_about(chat: Chat) -> None:
    _, follow_up = ask(chat, "расскажите про вклад «Вершина Гибкий»",
                       "а если закрою досрочно через 7 месяцев?")
    assert "половине ставки" in normal(follow_up), follow_up


def test_two_questions_in_one_message_are_both_answered(chat: Chat) -> None:
    (reply,) = ask(chat, "какая ставка по накопительному счёту? и можно ли снимать деньги?")
    assert "12,0 %" in reply and "снимать" in normal(reply), reply


def test_a_question_the_knowledge_base_does_not_answer_gets_no_invented_figure(chat: Chat) -> None:
    (reply,) = ask(chat, "Сколько процентов годовых по вкладу «Накопительный плюс»?")
    assert NO_ANSWER in normal(reply) or "менеджер" in normal(reply), reply
    assert "%" not in reply, reply


@pytest.mark.parametrize("question", [
    "а ставка на автокредит какая?",  # a product no heading names; an example mentions it
    "какой у вас кэшбэк на покупки?",  # a word the knowledge base never uses, asked for
    "продиктуйте бик банка, пожалуйста",
    "какой swift у вашего банка?",  # a word outside the dictionary, asked for
    "какой номер лицензии у вашего банка?",  # a number, but not the hotline
])
def test_what_the_bank_does_not_write_about_is_not_answered_with_a_neighbour(chat: Chat,
                                                                             question: str) -> None:
    (reply,) = ask(chat, question)
    assert NO_ANSWER in normal(reply), reply
    assert "%" not in reply and "8 800" not in reply, reply


def test_an_application_with_a_question_gets_the_answer_then_the_form(chat: Chat) -> None:
    line = "хочу взять кредит 700 тысяч наличными, справка о доходах нужна или паспорта хватит"
    answer, form = ask_for_messages(chat, line, 2)
    assert "подтверждение дохода" in normal(answer), answer
    assert "согласи" in normal(form) or "как вас зовут" in normal(form), form

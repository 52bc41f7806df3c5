"""Personal data: a dialog with a phone, a name and a card number, then /forget.

The product runs for real (aiogram polling against the loopback Bot API,
the engine, SQLite, the outbox, the managers' forum desk, LangChain's
ChatOpenAI against the loopback OpenAI-compatible server). Afterwards none of
the customer's personal data is in the logs (root at DEBUG), /metrics, the
managers' forum posts, the LLM requests made before consent, the database or
the index folder.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bots.runtime import Runtime
from bots.web.metrics import metrics_text
from knowledge.ru.sensitive import mask_cards, redact
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBotAPI
from tests.leads.helpers import PHONE_WAYS, every_cell
from tests.telegram.conftest import (  # noqa: F401 - fixtures
    MANAGERS_CHAT,
    WAIT_S,
    StartRuntime,
    demo_index,
    embedder,
    plain,
    start_runtime,
    tg,
)

CUSTOMER = 4242
NAME_WORDS = ("иван", "петров")
#: The name in any case ending, as a word («обслуживание» holds «иван» too).
_NAME = re.compile(r"(?<![а-яё])(иван|петров)(?:а|у|ом|е|ым|ой|ич)?(?![а-яё])")
PHONE_DIGITS = "9123456789"
CARD = "4276 3800 1234 5679"  # Luhn-valid
CARD_DIGITS = "4276380012345679"
INTRO = (f"Здравствуйте! Меня зовут Иван Петров, мой телефон +7 912 345-67-89, номер карты {CARD}. "
         "Какая сумма вкладов застрахована?")


def _leaks(text: str) -> list[str]:
    """Which of the customer's data `text` holds (digits compared without separators)."""
    digits = re.sub(r"\D", "", text)
    lowered = text.lower()
    found = sorted({m[1] for m in _NAME.finditer(lowered)}, key=NAME_WORDS.index)
    found += [what for what, run in (("phone", PHONE_DIGITS), ("card", CARD_DIGITS)) if run in digits]
    return found


def test_the_masking_rule() -> None:
    assert _leaks(redact(INTRO)) == []
    assert _leaks(mask_cards(INTRO)) == ["иван", "петров", "phone"]
    assert "4111 1111 1111 1112" in mask_cards("не карта: 4111 1111 1111 1112")  # fails Luhn


@pytest.mark.parametrize("written", PHONE_WAYS)
def test_every_way_of_writing_the_phone_is_masked(written: str) -> None:
    assert PHONE_DIGITS not in re.sub(r"\D", "", redact(f"Мой номер {written}, перезвоните"))


@pytest.mark.parametrize("card", ["4276 3800 1234 5679", "4276-3800-1234-5679", "4276380012345679",
                                  "5469 3800 1234 5673", "5469 3800 1234 5670 126"])
def test_card_numbers_are_masked_whatever_the_consent(card: str) -> None:
    digits = re.sub(r"\D", "", card)
    assert digits not in re.sub(r"\D", "", mask_cards(f"карта {card}, срок 12/28"))


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        server.responder = lambda body: "Вклады застрахованы на сумму до 1,4 млн ₽ на человека в одном банке."
        yield server


async def _say(tg: FakeBotAPI, text: str) -> dict[str, Any]:  # noqa: F811
    before = len(tg.sent_to(CUSTOMER))
    tg.push_text(CUSTOMER, text, first_name="Иван Петров")
    replies = await tg.wait_sent(before + 1, timeout=WAIT_S, chat_id=CUSTOMER)
    return replies[-1]


async def test_a_phone_a_name_and_a_card_then_forget_leave_no_trace(
        tg: FakeBotAPI, llm: FakeOpenAI, start_runtime: StartRuntime,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # The lead form runs in Telegram here (`collect`): what is masked before consent is the point.
    runtime: Runtime = await start_runtime(llm={"provider": "openai", "base_url": llm.base_url,
                                                "model": "local-model", "api_key": "sk-test"},
                                           telegram={"personal_data": "collect"})
    await _say(tg, INTRO)
    await _say(tg, f"Запишите карту {CARD}, имя Иван Петров")
    await runtime.engine.idle(WAIT_S)
    # Before consent nothing personal is kept: not in messages, the inbox, the outbox, anywhere.
    assert await _stored(runtime) == []
    # A card gets a warning without the model; a question with a phone and a name reaches it.
    await _say(tg, "Это Иван Петров, мой телефон 8 912 345 67 89. Какая сумма вкладов застрахована?")
    await _say(tg, "Хочу открыть вклад на 500 тысяч")
    before_consent = len(llm.requests)
    transcript = [await _say(tg, text) for text in ("Согласен", "Иван Петров", "+7 912 345-67-89", "на год",
                                                 "Да, всё верно")]
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=MANAGERS_CHAT)  # the lead card: a handoff
    before = len(tg.sent_to(CUSTOMER))
    tg.push_text(CUSTOMER, f"Перезвоните на 8 912 345 67 89, это Иван Петров, карта {CARD}",
                 first_name="Иван Петров")
    await tg.wait_sent(before + 1, timeout=WAIT_S, chat_id=CUSTOMER)  # the bot still answers
    await runtime.engine.idle(WAIT_S)
    forgotten = await _say(tg, "/forget")
    assert "удалены" in plain(forgotten)
    await runtime.engine.idle(WAIT_S)

    assert before_consent > 0, "the LLM was never asked before consent"
    asked = json.dumps(llm.requests[:before_consent], ensure_ascii=False)
    assert _leaks(asked) == [], [asked[max(0, m.start() - 80):m.end() + 40]
                                 for m in _NAME.finditer(asked.lower())][:4]
    assert "card" not in _leaks(json.dumps(llm.requests, ensure_ascii=False))

    forum = [plain(m) for m in tg.sent_to(MANAGERS_CHAT)] + [t["name"] for t in tg.topics]
    assert forum and _leaks("\n".join(forum)) == [], forum

    assert _leaks(await metrics_text(runtime)) == []

    assert await _stored(runtime) == []

    index_dir = runtime.settings.path(runtime.settings.knowledge.index_dir)
    in_index = [p for p in index_dir.rglob("*") if p.is_file() and _file_leaks(p)]
    assert in_index == []

    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)])
    assert len(caplog.records) > 10  # the product did log, at DEBUG too
    assert _leaks(logged) == [], [line for line in logged.splitlines() if _leaks(line)][:5]
    assert transcript  # the form was really walked through


async def _stored(runtime: Runtime) -> list[str]:
    """`table: value` of every database cell holding the customer's data."""
    cells = await every_cell(runtime.db)
    return [f"{table}: {value[:160]}" for table, values in cells.items() for value in values
            if _leaks(value)]


def _file_leaks(path: Path) -> bool:
    data = path.read_bytes()
    return bool(_NAME.search(data.decode("utf-8", "ignore").lower())) or \
        any(run.encode() in data for run in (PHONE_DIGITS, CARD_DIGITS))

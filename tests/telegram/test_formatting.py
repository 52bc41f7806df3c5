"""What a reply looks like in Telegram: long answers in parts, knowledge text escaped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bots.messages import OutboundMessage
from bots.runtime import Runtime
from store.models import OutboxStatus
from tests.fakes.openai_server import FakeOpenAI, text
from tests.fakes.telegram_server import MAX_MESSAGE_CHARS, FakeBotAPI
from tests.telegram.conftest import WAIT_S, StartRuntime, outbox_of, plain, wait_until

CUSTOMER = 4100
SOURCES_NOTE = "\n\nИсточник:"
_WORDS = ("альфа", "бета", "гамма", "дельта", "эпсилон", "дзета", "эта", "тета", "йота", "каппа")


def long_answer(paragraphs: int = 10, sentences: int = 6) -> str:
    """A model answer of about 7000 characters in paragraphs of unique sentences.

    No figures and no «quoted names», so the grounding check lets it through.
    """
    out = []
    for p in range(paragraphs):
        out.append(" ".join(
            f"Пункт {_WORDS[p]} {_WORDS[s // 10]} {_WORDS[s % 10]}: страхование защищает "
            "сбережения вкладчика, а возмещение зависит от остатка на всех счетах в одном банке."
            for s in range(sentences)))
    return "\n\n".join(out)


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def llm_runtime(llm: FakeOpenAI, start_runtime: StartRuntime) -> Runtime:
    """The product answering with a (fake) OpenAI-compatible model."""
    return await start_runtime(llm={"provider": "openai", "base_url": llm.base_url,
                                    "model": "local-model", "api_key": "sk-test"})


async def _sent(runtime: Runtime) -> bool:
    """The one reply of the test has been delivered, every part of it."""
    items = await outbox_of(runtime)
    return len(items) == 1 and items[0].status == OutboxStatus.SENT


def body_of(parts: list[dict[str, Any]]) -> list[str]:
    """The parts as the customer reads them, without the sources note under the last one."""
    texts = [plain(m) for m in parts]
    if texts[-1].startswith(SOURCES_NOTE.strip()):
        texts.pop()  # the note did not fit under the last part and came on its own
    texts[-1] = texts[-1].split(SOURCES_NOTE)[0]
    return texts


async def test_a_long_answer_arrives_in_parts_cut_between_paragraphs(
        tg: FakeBotAPI, llm: FakeOpenAI, llm_runtime: Runtime) -> None:
    answer = long_answer()
    assert len(answer) > 1.5 * MAX_MESSAGE_CHARS
    llm.responder = lambda body: text(answer)

    tg.push_text(CUSTOMER, "Расскажите подробно, как работает страхование вкладов")
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)
    await wait_until(lambda: _sent(llm_runtime), what="every part being sent")

    parts = tg.sent_to(CUSTOMER)
    texts = body_of(parts)
    assert len(parts) >= 2
    assert all(len(plain(m)) <= MAX_MESSAGE_CHARS for m in parts)
    assert all(m["parse_mode"] == "HTML" for m in parts)
    # Cut only between paragraphs, and nothing lost or repeated.
    assert "\n\n".join(texts) == answer
    assert all(t.endswith(".") for t in texts)


async def test_one_long_paragraph_is_cut_between_sentences(tg: FakeBotAPI, runtime: Runtime) -> None:
    paragraph = long_answer(paragraphs=1, sentences=50)  # about 6000 characters, no blank line
    channel = runtime.channels["telegram"]

    await channel.send(OutboundMessage(channel="telegram", dialog_key=str(CUSTOMER), text=paragraph))

    texts = [plain(m) for m in tg.sent_to(CUSTOMER)]
    assert len(texts) >= 2
    assert all(len(t) <= MAX_MESSAGE_CHARS for t in texts)
    assert all(t.endswith("банке.") for t in texts)  # each part ends where a sentence does
    assert " ".join(texts) == paragraph


async def test_a_429_between_parts_repeats_no_part(
        tg: FakeBotAPI, llm: FakeOpenAI, llm_runtime: Runtime) -> None:
    answer = long_answer()
    llm.responder = lambda body: text(answer)

    tg.push_text(CUSTOMER, "Расскажите подробно, как работает страхование вкладов")
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    tg.fail_next("sendMessage", error_code=429, retry_after=1)  # hits the second part
    await tg.wait_calls("sendMessage", 2, timeout=WAIT_S)
    await wait_until(lambda: _sent(llm_runtime), what="the retried reply being sent")

    # The part already delivered is not sent again; the rest follows after retry_after.
    assert "\n\n".join(body_of(tg.sent_to(CUSTOMER))) == answer
    assert tg.calls.count("sendMessage") == len(tg.sent_to(CUSTOMER)) + 1


async def test_markup_in_knowledge_text_is_escaped(
        tg: FakeBotAPI, start_runtime: StartRuntime,
        small_index: Callable[[dict[str, str]], Path]) -> None:
    index = small_index({"general/transfers.md": (
        "# Заметки к переводам\n\n"
        "## Как оформить комментарий к переводу\n\n"
        "Комментарий к переводу приложение показывает как обычный текст. Теги вроде "
        "<b>жирный</b> или <script>alert('x')</script> не выполняются и видны получателю "
        "как есть. Символ & в названии получателя, например ООО Смит & Сыновья, "
        "сохраняется без изменений.\n")})
    await start_runtime(index)

    tg.push_text(CUSTOMER, "Как оформить комментарий к переводу?")
    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    # Accepted by the fake, which refuses HTML that Telegram could not parse ...
    assert reply["parse_mode"] == "HTML"
    assert "&lt;b&gt;жирный&lt;/b&gt;" in reply["text"], reply["text"]
    assert "&lt;script&gt;" in reply["text"] and "<script>" not in reply["text"]
    assert "Смит &amp; Сыновья" in reply["text"]
    # ... and the customer reads the characters the knowledge base wrote.
    shown = plain(reply)
    assert "<b>жирный</b>" in shown and "<script>alert('x')</script>" in shown
    assert "Смит & Сыновья" in shown

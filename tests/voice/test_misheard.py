"""A voice note that may have been misheard is answered with what was heard, not «нет ответа».

The product runs against the loopback Bot API with the tiny random-weight
Whisper: its words are gibberish, which is what a misheard note looks like.
The thresholds are set so that each path is taken for certain.
"""

from __future__ import annotations

from pathlib import Path

from agents.answerers.offline import NO_ANSWER
from agents.turn import DialogState, LeadState, Reply
from bots.misheard import heard_reply, heard_text
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import plain
from tests.voice.conftest import FAST_DECODING, WAIT_S, Speech, StartProduct, customer_messages
from tests.voice.test_telegram_voice import CUSTOMER, MANAGER_BUTTON, buttons

SURE = {"min_confidence": 0.0, "max_no_speech_prob": 1.0}  # every transcript counts as well heard


async def test_an_unsure_transcript_is_read_back_without_guessing_an_answer(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:
    product = await start_product(model=str(tiny_model), min_confidence=1.0, **FAST_DECODING)
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    [stored] = await customer_messages(product.runtime)
    heard = stored.meta["attachments"][0]["transcript"]
    assert heard["unsure"] is True and heard["text"]
    assert plain(reply) == heard_text(stored.text)
    assert plain(reply).startswith(f"Я расслышал: «{stored.text.rstrip('.!?')[:20]}")
    assert "Верно?" in plain(reply) and "текстом" in plain(reply)
    assert buttons(reply) == MANAGER_BUTTON
    assert product.asked == []  # the agent did not answer words nobody may have said


async def test_a_note_the_knowledge_base_has_nothing_for_is_read_back(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path, speech: Speech) -> None:
    product = await start_product(model=str(tiny_model), **SURE, **FAST_DECODING)
    tg.add_file("voice-1", speech.ogg)
    tg.push_voice(CUSTOMER, "voice-1", duration=3)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    [stored] = await customer_messages(product.runtime)
    assert stored.meta["attachments"][0]["transcript"]["unsure"] is False
    assert product.asked == [stored.text]  # the agent was asked and found nothing (an empty index)
    assert plain(reply) == heard_text(stored.text)
    assert NO_ANSWER not in plain(reply)
    assert buttons(reply) == MANAGER_BUTTON


async def test_a_typed_question_without_an_answer_still_says_so(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path) -> None:
    await start_product(model=str(tiny_model), **SURE, **FAST_DECODING)
    tg.push_text(CUSTOMER, "Сколько стоит аренда ячейки на Луне?")

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    assert "Я расслышал" not in plain(reply)
    assert plain(reply).startswith(NO_ANSWER[:40])


async def test_text_turns_are_marked_for_transcriptions_to_yield_to(
        tg: FakeBotAPI, start_product: StartProduct, tiny_model: Path) -> None:
    product = await start_product(model=str(tiny_model), **FAST_DECODING)
    assert product.runtime.voice is not None
    text_first = product.runtime.voice.text_first
    seen: list[int] = []
    respond = product.runtime.agent.respond

    async def watching(turn):  # type: ignore[no-untyped-def]
        seen.append(text_first.running)
        return await respond(turn)

    product.runtime.agent.respond = watching  # type: ignore[method-assign]
    tg.push_text(CUSTOMER, "Спасибо!")
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await product.runtime.engine.idle()

    assert seen == [1] and text_first.running == 0


def test_a_long_transcript_is_cut_when_read_back() -> None:
    text = heard_text("слово " * 200)
    assert text.startswith("Я расслышал: «слово слово") and "…»" in text and len(text) < 420


def test_inside_an_open_application_the_read_back_asks_for_text_not_yes_or_no() -> None:
    # «Верно?» would be answered «да», and the form would take that as its own answer.
    state = DialogState(lead=LeadState(product="deposit", asking="consent"))
    read_back = heard_reply(Reply("", "deposit_consultant", "rules", grounded=True, state=state),
                            "согласен меня зовут")
    assert read_back.text.startswith("Я расслышал: «согласен меня зовут»")
    assert "Верно?" not in read_back.text and "текстом" in read_back.text
    assert read_back.state.lead is not None and read_back.state.lead.asking == "consent"  # form untouched

"""A customer writes to the bot in polling mode: answers, duplicates, 429, 403, voice, contact."""

from __future__ import annotations

import asyncio

from bots.runtime import Runtime
from store.models import DialogStatus, InboxStatus, OutboxStatus
from tests.fakes.telegram_server import FakeBotAPI
from tests.leads.helpers import every_cell, leaks
from tests.telegram.conftest import (
    WAIT_S,
    StartRuntime,
    dialog_of,
    inbox_of,
    outbox_of,
    plain,
    wait_until,
)

CUSTOMER = 42
QUIET_S = 2.5  # longer than the outbox's idle poll: a retry would show up within it


async def _all_sent(runtime: Runtime) -> bool:
    items = await outbox_of(runtime)
    return bool(items) and all(i.status == OutboxStatus.SENT for i in items)


async def test_question_is_answered_from_the_knowledge_base(tg: FakeBotAPI, runtime: Runtime) -> None:
    update = tg.push_text(CUSTOMER, "Какая сумма вкладов застрахована?")

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    text = plain(reply)
    assert reply["parse_mode"] == "HTML"
    assert "1,4 млн" in text, text
    assert "Источник:" in text and "<i>Источник:" in reply["text"], reply["text"]
    assert "insurance.md" in text or "products.md" in text, text
    # «печатает…» was shown while the agent worked, and the update is acknowledged.
    assert any(a["chat_id"] == CUSTOMER and a["action"] == "typing" for a in tg.actions)
    await tg.wait_confirmed(update["update_id"], timeout=WAIT_S)


async def test_a_repeated_update_is_answered_once(tg: FakeBotAPI, runtime: Runtime) -> None:
    update = tg.text_update(CUSTOMER, "Спасибо!")
    tg.push_update(update)
    tg.push_update(dict(update))  # Telegram delivers the same update_id again

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()
    await wait_until(lambda: _all_sent(runtime), what="the reply being marked sent")

    assert "Пожалуйста" in plain(reply)
    [item] = await inbox_of(runtime)
    assert item.external_id == str(update["update_id"]) and item.status == InboxStatus.DONE
    assert len(await outbox_of(runtime)) == 1  # no second reply was ever queued
    assert len(tg.sent_to(CUSTOMER)) == 1


async def test_429_retry_after_is_honoured_and_the_reply_arrives_once(
        tg: FakeBotAPI, runtime: Runtime) -> None:
    loop = asyncio.get_running_loop()
    tg.fail_next("sendMessage", error_code=429, retry_after=1)
    tg.push_text(CUSTOMER, "Спасибо!")

    await tg.wait_calls("sendMessage", 1, timeout=WAIT_S)
    refused_at = loop.time()
    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    delivered_at = loop.time()
    await wait_until(lambda: _all_sent(runtime), what="the outbox item being marked sent")

    assert delivered_at - refused_at >= 0.95, "retried before retry_after passed"
    assert "Пожалуйста" in plain(reply)
    [item] = await outbox_of(runtime)
    assert item.status == OutboxStatus.SENT
    assert len(tg.sent_to(CUSTOMER)) == 1
    assert tg.calls.count("sendMessage") == 2


async def test_a_user_who_blocked_the_bot_gets_no_retries(tg: FakeBotAPI, runtime: Runtime) -> None:
    tg.fail_next("sendMessage", error_code=403)
    tg.push_text(CUSTOMER, "Спасибо!")

    await tg.wait_calls("sendMessage", 1, timeout=WAIT_S)

    async def dead() -> bool:
        items = await outbox_of(runtime)
        return bool(items) and items[0].status == OutboxStatus.DEAD

    await wait_until(dead, what="the outbox item becoming dead")
    await asyncio.sleep(QUIET_S)

    assert tg.calls.count("sendMessage") == 1
    assert tg.sent_to(CUSTOMER) == []
    [item] = await outbox_of(runtime)
    assert item.status == OutboxStatus.DEAD and "blocked" in (item.last_error or "")
    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None and dialog.status == DialogStatus.CLOSED


async def test_a_voice_note_gets_a_polite_answer(tg: FakeBotAPI, runtime: Runtime) -> None:
    tg.push_voice(CUSTOMER, "voice-file-1", duration=4, file_size=12_000)

    [reply] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)

    text = plain(reply)
    assert "Голосовые сообщения я пока не распознаю" in text, text
    assert "текстом" in text
    buttons = [b["text"] for row in reply["reply_markup"]["keyboard"] for b in row]
    assert buttons == ["Позвать менеджера"]
    await runtime.engine.idle()
    [item] = await inbox_of(runtime)
    assert item.status == InboxStatus.DONE


async def test_a_shared_contact_answers_the_lead_forms_phone_question(
        tg: FakeBotAPI, start_runtime: StartRuntime) -> None:
    # The lead form itself runs in Telegram only where the bank chose `collect`.
    runtime = await start_runtime(telegram={"personal_data": "collect"})

    async def say(text: str, n: int) -> str:
        tg.push_text(CUSTOMER, text)
        return plain((await tg.wait_sent(n, timeout=WAIT_S, chat_id=CUSTOMER))[-1])

    assert "согласие на обработку персональных данных" in await say("Хочу открыть вклад", 1)
    assert "Как к вам обращаться?" in await say("Согласен", 2)
    assert "номер телефона" in await say("Иван", 3)
    phone_question = tg.sent_to(CUSTOMER)[-1]
    [[button]] = phone_question["reply_markup"]["keyboard"]
    assert button["request_contact"] is True

    tg.push_contact(CUSTOMER, "+7 916 123-45-67")
    next_question = plain((await tg.wait_sent(4, timeout=WAIT_S, chat_id=CUSTOMER))[-1])

    assert "Какую сумму" in next_question, next_question
    await runtime.engine.idle()
    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None
    fields = dialog.state["lead"]["fields"]
    assert fields["name"] == "Иван"
    assert fields["phone"].endswith("9161234567"), fields


async def test_by_default_telegram_asks_for_no_phone_and_keeps_no_shared_contact(
        tg: FakeBotAPI, runtime: Runtime) -> None:
    tg.push_text(CUSTOMER, "Хочу открыть вклад", first_name="Вениамин")
    [offer] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    text = plain(offer)
    assert "иностранные мессенджеры" in text and "/chat/continue/" in text, text
    assert "request_contact" not in str(offer.get("reply_markup"))

    tg.push_contact(CUSTOMER, "+7 916 123-45-67", first_name="Вениамин")  # shared all the same
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()

    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None and dialog.state["lead"]["fields"] == {}
    assert leaks(await every_cell(runtime.db), words=("вениамин",), digits="9161234567") == []

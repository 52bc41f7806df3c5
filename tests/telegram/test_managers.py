"""Handoff to the managers' forum supergroup and back."""

from __future__ import annotations

from bots.runtime import Runtime
from store.models import DialogStatus, OutboxStatus
from tests.fakes.telegram_server import FakeBotAPI
from tests.telegram.conftest import MANAGERS_CHAT, WAIT_S, dialog_of, outbox_of, plain, wait_until

CUSTOMER = 77


def in_topic(tg: FakeBotAPI, thread: int) -> list[str]:
    """What the managers see in one forum topic, oldest first."""
    return [plain(m) for m in tg.sent_to(MANAGERS_CHAT) if m["message_thread_id"] == thread]


async def manager_says(tg: FakeBotAPI, thread: int, text: str) -> None:
    tg.push_text(MANAGERS_CHAT, text, first_name="Ольга", message_thread_id=thread,
                 chat_type="supergroup")


async def hand_off(tg: FakeBotAPI, runtime: Runtime) -> int:
    """The customer asks for a person; returns the forum topic the dialog got."""
    tg.push_text(CUSTOMER, "Позовите менеджера, пожалуйста")
    [told] = await tg.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "Передаю ваш вопрос менеджеру" in plain(told)
    await tg.wait_sent(1, timeout=WAIT_S, chat_id=MANAGERS_CHAT)
    [topic] = tg.topics
    assert topic["chat_id"] == MANAGERS_CHAT
    return int(topic["message_thread_id"])


async def test_manager_answers_in_the_topic_and_hands_the_dialog_back(
        tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)

    [card] = in_topic(tg, thread)
    assert "просит менеджера" in tg.topics[0]["name"]
    assert "Диалог #" in card and "Позовите менеджера, пожалуйста" in card, card
    assert "/bot" in card

    # The customer's next message goes to the topic, not to the agent.
    tg.push_text(CUSTOMER, "Жду ответа")
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=MANAGERS_CHAT)
    assert in_topic(tg, thread)[-1] == "👤 Клиент: Жду ответа"
    assert len(tg.sent_to(CUSTOMER)) == 1

    await manager_says(tg, thread, "Здравствуйте! Лимит страхования — 1,4 млн ₽ на человека.")
    reply = (await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER))[-1]
    assert plain(reply) == "Менеджер: Здравствуйте! Лимит страхования — 1,4 млн ₽ на человека."
    assert reply["text"].startswith("<b>Менеджер:</b> ")
    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None and dialog.status == DialogStatus.MANAGER

    await manager_says(tg, thread, "/bot")
    back = (await tg.wait_sent(3, timeout=WAIT_S, chat_id=CUSTOMER))[-1]
    assert "Менеджер завершил консультацию" in plain(back)

    async def with_bot() -> bool:
        dialog = await dialog_of(runtime, CUSTOMER)
        return dialog is not None and dialog.status == DialogStatus.BOT

    await wait_until(with_bot, what="the dialog returning to the agent")
    for_managers = len(await outbox_of(runtime, "telegram_managers"))

    tg.push_text(CUSTOMER, "Какая сумма вкладов застрахована?")
    answer = (await tg.wait_sent(4, timeout=WAIT_S, chat_id=CUSTOMER))[-1]
    await runtime.engine.idle()

    assert "1,4 млн" in plain(answer), plain(answer)
    assert len(await outbox_of(runtime, "telegram_managers")) == for_managers  # not queued again
    assert len(tg.topics) == 1
    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None and dialog.status == DialogStatus.BOT


async def test_close_in_the_topic_closes_the_dialog(tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)

    await manager_says(tg, thread, "/close@sovetnik_bot")  # a command addressed to the bot by name
    closed = (await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER))[-1]

    assert "Диалог закрыт" in plain(closed)
    dialog = await dialog_of(runtime, CUSTOMER)
    assert dialog is not None and dialog.status == DialogStatus.CLOSED


async def test_a_second_handoff_returns_to_the_same_topic(tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)
    await manager_says(tg, thread, "/bot")
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)

    tg.push_text(CUSTOMER, "Позовите менеджера ещё раз")
    await tg.wait_sent(3, timeout=WAIT_S, chat_id=CUSTOMER)
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=MANAGERS_CHAT)

    assert [t["message_thread_id"] for t in tg.topics] == [thread]
    assert "Позовите менеджера ещё раз" in in_topic(tg, thread)[-1]


async def test_a_manager_message_after_bot_is_not_lost(tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)
    await manager_says(tg, thread, "/bot")
    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)

    await manager_says(tg, thread, "Забыла добавить: приходите с паспортом.")
    reply = (await tg.wait_sent(3, timeout=WAIT_S, chat_id=CUSTOMER))[-1]

    assert plain(reply) == "Менеджер: Забыла добавить: приходите с паспортом."
    dialog = await dialog_of(runtime, CUSTOMER)  # the manager has the dialog again
    assert dialog is not None and dialog.status == DialogStatus.MANAGER


async def test_a_repeated_manager_message_reaches_the_customer_once(
        tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)
    update = tg.text_update(MANAGERS_CHAT, "Проверяю вашу заявку.", first_name="Ольга",
                            message_thread_id=thread, chat_type="supergroup")
    tg.push_update(update)
    tg.push_update(dict(update))  # Telegram delivers the same update_id again

    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)
    await wait_until(lambda: _delivered(runtime), what="the relay being marked sent")

    assert [plain(m) for m in tg.sent_to(CUSTOMER)][1:] == ["Менеджер: Проверяю вашу заявку."]


async def test_a_repeated_bot_command_is_acted_on_once(tg: FakeBotAPI, runtime: Runtime) -> None:
    thread = await hand_off(tg, runtime)
    update = tg.text_update(MANAGERS_CHAT, "/bot", first_name="Ольга",
                            message_thread_id=thread, chat_type="supergroup")
    tg.push_update(update)
    tg.push_update(dict(update))  # Telegram delivers the same update_id again

    await tg.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)
    await wait_until(lambda: _delivered(runtime), what="the notes being marked sent")

    said = [plain(m) for m in tg.sent_to(CUSTOMER)]
    assert sum("Менеджер завершил консультацию" in t for t in said) == 1, said


async def _delivered(runtime: Runtime) -> bool:
    """Everything queued to the customer has gone out."""
    items = await outbox_of(runtime)
    return bool(items) and all(i.status == OutboxStatus.SENT for i in items)

"""VK through Bots Long Poll: the real product against the loopback fake VK API."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from store.models import Dialog, DialogStatus, InboxStatus, OutboxItem, OutboxStatus
from store.types import utc_now
from tests.fakes.vk_server import FakeVK
from tests.telegram.conftest import WAIT_S, deals_of, inbox_of, outbox_of, phones_of
from tests.vk.conftest import StartRuntime

CUSTOMER = 7001


def buttons(message: dict) -> list[str]:
    keyboard = message.get("keyboard") or {}
    return [b["action"]["label"] for row in keyboard.get("buttons", []) for b in row]


async def test_a_question_is_answered_with_a_deduplicating_random_id(
        vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.push_text(CUSTOMER, "Какая сумма вкладов застрахована?")

    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    assert "1,4 млн" in reply["text"], reply["text"]
    assert reply["random_id"] != 0
    assert vk.calls_of("messages.setActivity")[0]["type"] == "typing"
    await runtime.engine.idle()
    [item] = await inbox_of(runtime)
    assert item.channel == "vk" and item.status == InboxStatus.DONE


async def test_quick_replies_become_a_one_time_keyboard(vk: FakeVK, start_vk: StartRuntime) -> None:
    await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.push_text(CUSTOMER, "Хочу открыть вклад")

    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    assert reply["keyboard"]["one_time"] is True
    assert buttons(reply), reply
    # A tap sends the label as text, like typing it.
    vk.push_text(CUSTOMER, buttons(reply)[0])
    await vk.wait_sent(2, timeout=WAIT_S, peer_id=CUSTOMER)


async def test_a_repeated_event_is_answered_once(vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    event = vk.text_event(CUSTOMER, "Спасибо!")
    vk.push(event)
    vk.push(dict(event))  # the same event_id again

    await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await runtime.engine.idle()
    await asyncio.sleep(0.3)
    assert len(await inbox_of(runtime)) == 1
    assert len(vk.sent_to(CUSTOMER)) == 1


async def test_a_resend_after_a_crash_is_deduplicated_by_vk(vk: FakeVK, start_vk: StartRuntime) -> None:
    """Sent, but the process died before marking it sent: the same random_id goes again."""
    runtime = await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.push_text(CUSTOMER, "Спасибо!")
    [first] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await runtime.engine.idle()
    [item] = await outbox_of(runtime, "vk")
    await runtime.outbox.stop()  # the restarted process's delivery round is the one below
    # As a crash leaves it: still pending, and (once the sender's claim has run out) due.
    async with runtime.db.transaction() as session:
        await session.execute(sa.update(OutboxItem).where(OutboxItem.id == item.id).values(
            status=OutboxStatus.PENDING, sent_at=None, next_attempt_at=utc_now()))

    assert await runtime.outbox.deliver_due() == 1

    sends = vk.calls_of("messages.send")
    assert len(sends) == 2 and sends[0]["random_id"] == sends[1]["random_id"] == str(first["random_id"])
    assert len(vk.sent_to(CUSTOMER)) == 1  # the customer saw it once


async def test_too_many_requests_is_retried_after_a_pause(vk: FakeVK, start_vk: StartRuntime) -> None:
    await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.fail_next("messages.send", 6, times=2)
    vk.push_text(CUSTOMER, "Спасибо!")

    [reply] = await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    assert "Пожалуйста" in reply["text"]
    assert len(vk.calls_of("messages.send")) == 3


async def test_an_expired_long_poll_key_is_renewed_without_losing_events(
        vk: FakeVK, start_vk: StartRuntime) -> None:
    await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.poll_key = "lp-key-2"  # VK expired the key: the next request gets failed=2
    vk.push_text(CUSTOMER, "Спасибо!")

    await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    assert len(vk.calls_of("groups.getLongPollServer")) == 2


async def test_a_handed_off_dialog_gets_the_managers_reply_in_vk(
        vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    vk.push_text(CUSTOMER, "Позовите менеджера, пожалуйста")
    await vk.wait_sent(1, timeout=WAIT_S, peer_id=CUSTOMER)
    await runtime.engine.idle()
    async with runtime.db.session() as session:
        dialog = (await session.execute(sa.select(Dialog).where(
            Dialog.channel == "vk", Dialog.dialog_key == str(CUSTOMER)))).scalar_one()
    assert dialog.status == DialogStatus.WAITING and dialog.id is not None

    await runtime.handoff.take(dialog.id, "olga")
    assert await runtime.handoff.reply(dialog.id, "Здравствуйте, я Ольга, помогу с вкладом.", "olga")

    replies = await vk.wait_sent(2, timeout=WAIT_S, peer_id=CUSTOMER)
    assert replies[-1]["text"] == "Менеджер: Здравствуйте, я Ольга, помогу с вкладом."


async def test_a_deposit_application_is_completed_with_consent(vk: FakeVK, start_vk: StartRuntime) -> None:
    runtime = await start_vk()
    await vk.wait_calls("groups.getLongPollServer")
    steps = [("хочу открыть вклад", "согласие"), ("да, согласна", "обращаться"),
             ("Анна Лебедева", "телефон"), ("8 (916) 123-45-67", "сумму"), ("300 тысяч", "срок"),
             ("на год", "проверьте"), ("да, всё верно", "принята")]
    for n, (text, expected) in enumerate(steps, start=1):
        vk.push_text(CUSTOMER, text)
        replies = await vk.wait_sent(n, timeout=WAIT_S, peer_id=CUSTOMER)
        assert expected in replies[-1]["text"].lower(), (text, replies[-1]["text"])

    await runtime.engine.idle()
    [deal] = await deals_of(runtime)
    assert (deal.product, deal.amount_minor, deal.term_months) == ("deposit", 30_000_000, 12)
    assert await phones_of(runtime) == ["+79161234567"]

"""MAX through long polling and the webhook: the real product against the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
import uvicorn

import bots.assembly
from bots.channels.max import MaxChannel
from bots.config import ConfigError, MaxSettings, load_settings
from bots.messages import OUTBOX_ID, OUTBOX_INTERRUPTED_AT, OutboundMessage
from bots.runtime import Runtime
from bots.web.app import create_app
from knowledge.embedder import Embedder
from store.models import Dialog, DialogStatus, InboxStatus
from tests.fakes.max_server import FakeMax
from tests.max.conftest import PUBLIC_URL, WEBHOOK_SECRET, StartRuntime, max_settings
from tests.telegram.conftest import WAIT_S, deals_of, free_port, inbox_of, outbox_of, phones_of

CUSTOMER = 5501


async def test_a_question_is_answered_through_long_polling(mx: FakeMax, start_max: StartRuntime) -> None:
    runtime = await start_max()
    mx.push_text(CUSTOMER, "Какая сумма вкладов застрахована?")

    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "1,4 млн" in reply["text"], reply["text"]
    assert (CUSTOMER, "typing_on") in mx.actions
    await runtime.engine.idle()
    [item] = await inbox_of(runtime)
    assert item.channel == "max" and item.status == InboxStatus.DONE
    assert item.external_id.startswith("mid.")


async def test_a_deposit_application_is_completed_with_consent(mx: FakeMax, start_max: StartRuntime) -> None:
    runtime = await start_max()
    steps = [("хочу открыть вклад", "согласие"), ("согласен", "обращаться"),
             ("меня зовут Игорь", "телефон"), ("+7 903 765 43 21", "сумму"), ("полмиллиона", "срок"),
             ("на полгода", "проверьте"), ("верно", "принята")]
    for n, (text, expected) in enumerate(steps, start=1):
        mx.push_text(CUSTOMER, text)
        replies = await mx.wait_sent(n, timeout=WAIT_S, chat_id=CUSTOMER)
        assert expected in replies[-1]["text"].lower(), (text, replies[-1]["text"])

    await runtime.engine.idle()
    [deal] = await deals_of(runtime)
    assert (deal.product, deal.amount_minor, deal.term_months) == ("deposit", 50_000_000, 6)
    assert await phones_of(runtime) == ["+79037654321"]


async def test_a_handed_off_dialog_gets_the_managers_reply_in_max(
        mx: FakeMax, start_max: StartRuntime) -> None:
    runtime = await start_max()
    mx.push_text(CUSTOMER, "Позовите менеджера, пожалуйста")
    await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()
    async with runtime.db.session() as session:
        dialog = (await session.execute(sa.select(Dialog).where(
            Dialog.channel == "max", Dialog.dialog_key == str(CUSTOMER)))).scalar_one()
    assert dialog.status == DialogStatus.WAITING and dialog.id is not None

    await runtime.handoff.take(dialog.id, "olga")
    assert await runtime.handoff.reply(dialog.id, "Здравствуйте, я Ольга, помогу с вкладом.", "olga")

    replies = await mx.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)
    assert replies[-1]["text"] == "Менеджер: Здравствуйте, я Ольга, помогу с вкладом."


async def test_quick_replies_become_an_inline_keyboard(mx: FakeMax, start_max: StartRuntime) -> None:
    await start_max()
    mx.push_text(CUSTOMER, "Хочу открыть вклад")

    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    labels = [b["text"] for row in reply["buttons"] for b in row]
    assert labels and all(b["type"] == "message" for row in reply["buttons"] for b in row)
    mx.push_text(CUSTOMER, labels[0])  # a tap on a message button sends its text
    await mx.wait_sent(2, timeout=WAIT_S, chat_id=CUSTOMER)


async def test_a_repeated_update_is_answered_once(mx: FakeMax, start_max: StartRuntime) -> None:
    runtime = await start_max()
    update = mx.text_update(CUSTOMER, "Спасибо!")
    mx.push(update)
    mx.push(dict(update))  # no update id in MAX: the same body.mid is the same message

    await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    await runtime.engine.idle()
    await asyncio.sleep(0.3)
    assert len(await inbox_of(runtime)) == 1
    assert len(mx.sent_to(CUSTOMER)) == 1


async def test_polling_stays_under_two_requests_a_second(mx: FakeMax, start_max: StartRuntime) -> None:
    await start_max()
    for n in range(1, 5):  # an update as soon as each poll begins: every poll returns at once
        await mx.wait_polls(n, timeout=WAIT_S)
        mx.push_text(CUSTOMER + n, "Спасибо!")
    await mx.wait_polls(5, timeout=WAIT_S)
    gaps = [b - a for a, b in zip(mx.poll_times, mx.poll_times[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps


async def test_too_many_requests_is_retried_by_the_outbox(mx: FakeMax, start_max: StartRuntime) -> None:
    runtime = await start_max()
    mx.fail_next("/messages", 429, times=2)
    mx.push_text(CUSTOMER, "Спасибо!")

    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "Пожалуйста" in reply["text"]
    async with asyncio.timeout(WAIT_S):
        while (item := (await outbox_of(runtime, "max"))[0]).status != "sent":
            await asyncio.sleep(0.05)
    assert item.attempts == 1  # the two waits MAX asked for used up no attempt


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def served(mx: FakeMax, tmp_path: Path, demo_index: Path, embedder: Embedder,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Runtime, str]]:
    monkeypatch.setattr(bots.assembly, "load_embedder", lambda *a, **k: embedder)
    runtime = Runtime.build(max_settings(mx, tmp_path, demo_index, mode="webhook",
                                         webhook_url=PUBLIC_URL, webhook_secret=WEBHOOK_SECRET))
    port = free_port()
    server = _Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port,
                                   lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                assert not task.done(), "the server ended during start-up"
                await asyncio.sleep(0.02)
        yield runtime, f"http://127.0.0.1:{port}/max/webhook"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


async def test_the_webhook_is_subscribed_and_checks_its_secret(
        mx: FakeMax, served: tuple[Runtime, str]) -> None:
    runtime, hook = served
    [subscription] = mx.subscriptions
    assert subscription["url"] == PUBLIC_URL and subscription["secret"] == WEBHOOK_SECRET
    assert mx.poll_times == []  # webhook and polling are exclusive

    update = mx.text_update(CUSTOMER, "Какая сумма вкладов застрахована?")
    assert await mx.post_webhook(hook, update, None) == 401
    assert await mx.post_webhook(hook, update, "wrong-secret") == 401
    await asyncio.sleep(0.3)
    assert await inbox_of(runtime) == [] and mx.sent == []

    assert await mx.post_webhook(hook, update, WEBHOOK_SECRET) == 200
    assert len(await inbox_of(runtime)) == 1  # stored before MAX heard 200
    assert await mx.post_webhook(hook, dict(update), WEBHOOK_SECRET) == 200  # MAX retries
    [reply] = await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)
    assert "1,4 млн" in reply["text"]
    await runtime.engine.idle()
    await asyncio.sleep(0.3)
    assert len(mx.sent_to(CUSTOMER)) == 1


def test_a_webhook_must_be_https_with_a_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "channels:\n  max:\n    enabled: true\n    token: \"${MAX_BOT_TOKEN}\"\n    mode: webhook\n"
        "    webhook_url: http://bank.example/max/webhook\n    webhook_secret: ${MAX_WEBHOOK_SECRET}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError) as no_secret:
        load_settings(config, env={"MAX_BOT_TOKEN": "t"})
    assert no_secret.value.key == "channels.max" and "webhook_secret" in str(no_secret.value)
    with pytest.raises(ConfigError) as plain_http:
        load_settings(config, env={"MAX_BOT_TOKEN": "t", "MAX_WEBHOOK_SECRET": "secret-1"})
    assert "https://" in str(plain_http.value)


async def test_hostile_webhook_calls_get_a_clear_answer_and_the_server_keeps_running(
        mx: FakeMax, served: tuple[Runtime, str]) -> None:
    runtime, hook = served
    broken = {"update_type": "message_created", "message": {"recipient": {"chat_type": "dialog"}}}
    assert await mx.post_webhook(hook, broken, WEBHOOK_SECRET) == 200  # skipped: a retry cannot help
    assert await mx.post_webhook(hook, {"update_type": "bot_started"}, WEBHOOK_SECRET) == 200
    headers = {"X-Max-Bot-Api-Secret": WEBHOOK_SECRET}
    async with aiohttp.ClientSession() as session:
        async with session.post(hook, data=b"\xff{", headers=headers) as answer:
            assert answer.status == 400
        async with session.post(hook, data=b"x" * (1024 * 1024), headers=headers) as answer:
            assert answer.status == 413
    assert await inbox_of(runtime) == []

    assert await mx.post_webhook(hook, mx.text_update(CUSTOMER, "Спасибо!"), WEBHOOK_SECRET) == 200
    await mx.wait_sent(1, timeout=WAIT_S, chat_id=CUSTOMER)


async def test_a_reply_cut_off_mid_send_is_completed_without_repeating_a_part(mx: FakeMax) -> None:
    """MAX has no idempotency key: after a cut-off attempt, the chat's history says what arrived."""
    async def accept(_: object) -> None:
        return None

    channel = MaxChannel(MaxSettings(enabled=True, token=mx.token, api_url=mx.base_url), accept)
    paragraphs = [f"Пункт {n}. " + "условия вклада " * 180 for n in range(1, 4)]  # ~2.7k chars each
    reply = OutboundMessage(channel="max", dialog_key="77", text="\n\n".join(paragraphs),
                            meta={OUTBOX_ID: 5})
    before = time.time()
    try:
        await channel.send(reply)
        parts = [m["text"] for m in mx.sent_to(77)]
        assert len(parts) == 3
        del mx.sent[-1]  # the process died before the last part went out
        cut_off = reply.model_copy(update={"meta": {**reply.meta, OUTBOX_INTERRUPTED_AT: before}})
        await channel.send(cut_off)
        assert [m["text"] for m in mx.sent_to(77)] == parts  # only the missing part, once
        assert mx.history_reads == 1
        await channel.send(cut_off)  # everything arrived: nothing is sent again
        assert [m["text"] for m in mx.sent_to(77)] == parts
    finally:
        await channel.stop()

"""FakeBotAPI against the real aiogram ``Bot``, ``Dispatcher`` and webhook handler."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram_server import FakeBotAPI
from tests.fakes_selftest.clients import make_bot, polling

CHAT = 4242
GROUP = -1001234567890


def echo_router() -> Router:
    """Routers can be attached to one dispatcher only, so each test builds its own."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"start:{command.args or ''}")

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(f"phone:{message.contact.phone_number}:own={own}")

    @router.message(F.voice)
    async def voice(message: Message, bot: Bot) -> None:
        assert message.voice is not None
        audio = await bot.download(message.voice)
        assert audio is not None
        await message.answer(f"voice:{len(audio.read())}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return router


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    dp.include_router(echo_router())
    return dp


async def test_get_me(bot: Bot, tg: FakeBotAPI) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (123456, True, tg.username)
    assert tg.calls == ["getMe"]


async def test_send_message_is_recorded_and_returns_a_message(bot: Bot, tg: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Да", callback_data="yes")]])

    message = await bot.send_message(CHAT, "<b>Готово</b>", parse_mode="HTML", reply_markup=keyboard)

    assert message.chat.id == CHAT
    assert message.text == "Готово"  # Telegram strips the markup it parsed
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    [sent] = tg.sent
    assert sent["chat_id"] == CHAT
    assert sent["text"] == "<b>Готово</b>"
    assert sent["parse_mode"] == "HTML"
    assert sent["message_thread_id"] is None
    assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]}
    assert sent["message_id"] == message.message_id
    assert tg.sent_to(CHAT) == [sent]
    assert tg.sent_to(CHAT + 1) == []


async def test_polling_echoes_and_confirms_the_update(bot: Bot, tg: FakeBotAPI) -> None:
    dp = echo_dispatcher()

    async with polling(dp, bot, tg):
        update = tg.push_text(CHAT, "Как заблокировать карту?")
        [reply] = await tg.wait_sent(1)
        await tg.wait_confirmed(update["update_id"])

    assert (reply["chat_id"], reply["text"]) == (CHAT, "Как заблокировать карту?")
    assert tg.confirmed_offset == update["update_id"] + 1
    assert tg.pending_updates == []
    assert tg.calls[0] == "getMe"
    assert "message" in tg.allowed_updates


async def test_polling_handles_command_contact_and_voice(bot: Bot, tg: FakeBotAPI) -> None:
    tg.add_file("voice-1", b"OggS" + bytes(96), file_path="voice/file_1.oga")
    dp = echo_dispatcher()

    async with polling(dp, bot, tg):
        tg.push_command(CHAT, "/start promo42")
        await tg.wait_sent(1)
        tg.push_contact(CHAT, "+79001234567")
        await tg.wait_sent(2)
        tg.push_contact(CHAT, "+79007654321", user_id=999)
        await tg.wait_sent(3)
        tg.push_voice(CHAT, "voice-1", duration=3)
        await tg.wait_sent(4)

    assert [m["text"] for m in tg.sent] == [
        "start:promo42",
        "phone:+79001234567:own=True",
        "phone:+79007654321:own=False",
        "voice:100",
    ]
    assert tg.downloads == ["voice/file_1.oga"]


async def test_message_thread_id_is_honoured(bot: Bot, tg: FakeBotAPI) -> None:
    dp = echo_dispatcher()

    async with polling(dp, bot, tg):
        tg.push_text(GROUP, "Вопрос в теме", message_thread_id=77, chat_type="supergroup")
        [reply] = await tg.wait_sent(1, chat_id=GROUP)

    assert reply["message_thread_id"] == 77


async def test_wait_sent_reports_what_was_sent(bot: Bot, tg: FakeBotAPI) -> None:
    await bot.send_message(CHAT, "только одно")

    with pytest.raises(AssertionError, match="только одно"):
        await tg.wait_sent(2, timeout=0.05)


async def test_get_updates_offset_semantics(bot: Bot, tg: FakeBotAPI) -> None:
    first, second, third = (tg.push_text(CHAT, str(n)) for n in range(3))

    assert [u.update_id for u in await bot.get_updates()] == [
        first["update_id"],
        second["update_id"],
        third["update_id"],
    ]
    # Asking from `second` confirms (drops) `first`.
    remaining = await bot.get_updates(offset=second["update_id"])
    assert [u.update_id for u in remaining] == [second["update_id"], third["update_id"]]
    assert tg.confirmed_offset == second["update_id"]
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [second["update_id"]]
    # A negative offset keeps only the last N updates.
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [third["update_id"]]


async def test_get_updates_long_poll_waits_for_an_update(bot: Bot, tg: FakeBotAPI) -> None:
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, tg.push_text, CHAT, "пришло")

    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)

    assert 0.15 < time.monotonic() - started < 2
    assert updates[0].message is not None
    assert updates[0].message.text == "пришло"


async def test_get_updates_long_poll_times_out_empty(bot: Bot, tg: FakeBotAPI) -> None:
    started = time.monotonic()

    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_newer_get_updates_terminates_the_running_one(bot: Bot, tg: FakeBotAPI) -> None:
    long_poll = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_calls("getUpdates")

    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(long_poll, 2)


async def test_allowed_updates_filters_delivery(bot: Bot, tg: FakeBotAPI) -> None:
    tg.push_callback(CHAT, "yes")
    message_update = tg.push_text(CHAT, "текст")

    updates = await bot.get_updates(allowed_updates=["message"])

    assert [u.update_id for u in updates] == [message_update["update_id"]]


async def test_retry_after_is_injected(bot: Bot, tg: FakeBotAPI) -> None:
    tg.fail_next("sendMessage", error_code=429, retry_after=7)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "раз")
    await bot.send_message(CHAT, "два")

    assert caught.value.retry_after == 7
    assert [m["text"] for m in tg.sent] == ["два"]
    assert tg.calls == ["sendMessage", "sendMessage"]


async def test_blocked_by_user_and_repeated_failures(bot: Bot, tg: FakeBotAPI) -> None:
    tg.fail_next("sendMessage", error_code=403, times=2)

    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(CHAT, "?")
    await bot.send_message(CHAT, "!")

    assert len(tg.sent) == 1


async def test_invalid_html_is_rejected_like_telegram(bot: Bot, tg: FakeBotAPI) -> None:
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(CHAT, "строка<br>строка", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(CHAT, "Итого: 5.0", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "я" * 4097)

    await bot.send_message(CHAT, "*Итого:* 5\\.0", parse_mode="MarkdownV2")
    assert len(tg.sent) == 1


async def test_get_file_and_download(bot: Bot, tg: FakeBotAPI) -> None:
    payload = bytes(range(256)) * 10
    tg.add_file("doc-1", payload, file_path="documents/statement.pdf")

    file = await bot.get_file("doc-1")
    assert file.file_path == "documents/statement.pdf"
    assert file.file_size == len(payload)
    downloaded = await bot.download_file(file.file_path)

    assert downloaded is not None
    assert downloaded.read() == payload


async def test_get_file_errors(bot: Bot, tg: FakeBotAPI) -> None:
    tg.add_file("huge", b"x", file_size=25 * 1024 * 1024)

    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file("huge")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("missing")


async def test_forum_topic_and_chat_action(bot: Bot, tg: FakeBotAPI) -> None:
    topic = await bot.create_forum_topic(GROUP, "Заявка №1")
    other = await bot.create_forum_topic(GROUP, "Заявка №2")
    await bot.send_chat_action(GROUP, "typing", message_thread_id=topic.message_thread_id)
    message = await bot.send_message(GROUP, "Принято", message_thread_id=topic.message_thread_id)

    assert topic.name == "Заявка №1"
    assert other.message_thread_id != topic.message_thread_id
    assert message.message_thread_id == topic.message_thread_id
    assert tg.actions == [
        {"chat_id": GROUP, "action": "typing", "message_thread_id": topic.message_thread_id}
    ]
    assert tg.sent[0]["message_thread_id"] == topic.message_thread_id
    assert [t["name"] for t in tg.topics] == ["Заявка №1", "Заявка №2"]


async def test_webhook_settings_are_recorded(bot: Bot, tg: FakeBotAPI) -> None:
    tg.push_text(CHAT, "старое")

    await bot.set_webhook(
        "https://bank.example/tg/hook", secret_token="s3cret-Token_1", drop_pending_updates=True
    )
    info = await bot.get_webhook_info()
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    await bot.delete_webhook()

    assert tg.webhook["url"] == ""
    assert tg.params_of("setWebhook")[0]["secret_token"] == "s3cret-Token_1"
    assert tg.params_of("setWebhook")[0]["drop_pending_updates"] is True
    assert (info.url, info.pending_update_count) == ("https://bank.example/tg/hook", 0)
    with pytest.raises(TelegramBadRequest, match="HTTPS URL"):
        await bot.set_webhook("http://bank.example/tg/hook")


async def test_set_webhook_keeps_current_state(bot: Bot, tg: FakeBotAPI) -> None:
    await bot.set_webhook("https://bank.example/hook", secret_token="abc")

    assert tg.webhook["secret_token"] == "abc"
    assert tg.webhook["url"] == "https://bank.example/hook"


async def test_post_webhook_drives_aiogram_webhook_handler(bot: Bot, tg: FakeBotAPI) -> None:
    app = web.Application()
    SimpleRequestHandler(echo_dispatcher(), bot, secret_token="s3cret").register(app, path="/tg/webhook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/tg/webhook"
    try:
        rejected = await tg.post_webhook(url, tg.text_update(CHAT, "чужой"), "wrong")
        accepted = await tg.post_webhook(url, tg.text_update(CHAT, "через вебхук"), "s3cret")
        # aiogram answers the webhook at once and handles the update in the background.
        [reply] = await tg.wait_sent(1)
    finally:
        await runner.cleanup()

    assert (accepted, rejected) == (200, 401)
    assert reply["text"] == "через вебхук"


async def test_edit_and_delete_messages(bot: Bot, tg: FakeBotAPI) -> None:
    message = await bot.send_message(CHAT, "Думаю…")

    edited = await bot.edit_message_text("Ответ", chat_id=CHAT, message_id=message.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Ответ", chat_id=CHAT, message_id=message.message_id)
    assert await bot.delete_message(CHAT, message.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, message.message_id)

    assert isinstance(edited, Message)
    assert edited.text == "Ответ"
    assert tg.edits[0]["text"] == "Ответ"


async def test_wrong_token_is_unauthorized(tg: FakeBotAPI) -> None:
    stranger = make_bot(tg, token="654321:ZYX-wrong-token")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()

    assert tg.calls == []


async def test_raw_protocol_json_urlencoded_and_unknown_method(tg: FakeBotAPI) -> None:
    base = f"{tg.base_url}/bot{tg.token}"
    markup = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/sendMessage", json={"chat_id": CHAT, "text": "json", "reply_markup": markup}
        ) as r:
            as_json = await r.json()
        form = {"chat_id": str(CHAT), "text": "form", "reply_markup": '{"remove_keyboard":true}'}
        async with http.post(f"{base}/SENDMESSAGE", data=form) as r:
            as_form = await r.json()
        async with http.post(f"{base}/sendTelepathy", json={}) as r:
            unknown = (r.status, await r.json())
        async with http.get(f"{base}/getMe") as r:
            via_get = await r.json()

    assert as_json["ok"] is True
    assert as_json["result"]["reply_markup"] == markup
    assert as_form["result"]["text"] == "form"
    assert [m["reply_markup"] for m in tg.sent] == [markup, {"remove_keyboard": True}]
    assert unknown == (404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
    assert via_get["result"]["id"] == tg.bot_id
    assert tg.calls == ["sendMessage", "sendMessage", "sendTelepathy", "getMe"]


async def test_close_and_log_out(bot: Bot, tg: FakeBotAPI) -> None:
    assert await bot.close() is True
    assert await bot.log_out() is True


def test_token_must_look_like_a_bot_token() -> None:
    with pytest.raises(ValueError, match="not a bot token"):
        FakeBotAPI("not-a-token")

"""Telegram collects no personal data by default: a deposit is applied for in the web chat.

Since 1 March 2023 a Russian bank may not take customers' personal data through
foreign messengers (149-ФЗ art. 10, parts 8–10). Driven through the real
`sovetnik serve` with its default `personal_data` policy (Telegram: `redirect`),
Telegram against the loopback Bot API and the web chat over its WebSocket: the
customer who asks to open a deposit in Telegram gets the lawful-channel offer
and nothing personal is stored, even what they type; the one-time link carries
the same dialog over to the web chat, where the form completes with consent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from store import Database
from tests.fakes._telegram_format import render
from tests.fakes.telegram_server import FakeBotAPI
from tests.leads.helpers import every_cell, leaks
from tests.security.conftest import Serve, Served

CUSTOMER = 7301
NAME, NAME_STEM = "Анастасия", "анастаси"
PHONE, PHONE_DIGITS = "+7 912 345-67-89", "9123456789"
REPLY_S = 60.0
_LINK = re.compile(r"http://127\.0\.0\.1:\d+/chat/continue/[A-Za-z0-9_.\-]+")


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


async def _say(tg: FakeBotAPI, text: str) -> dict[str, Any]:
    """A Telegram message from the customer (whose profile carries the name); the bot's reply."""
    before = len(tg.sent_to(CUSTOMER))
    tg.push_text(CUSTOMER, text, user_id=CUSTOMER, first_name=NAME)
    return (await tg.wait_sent(before + 1, timeout=REPLY_S, chat_id=CUSTOMER))[before]


def _text(message: dict[str, Any]) -> str:
    return render(message["text"], message.get("parse_mode"))


def _plain(text: str) -> str:
    """Money is written with narrow and non-breaking spaces: compare with plain ones."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def _link(message: dict[str, Any]) -> str:
    found = _LINK.findall(_text(message))
    assert len(found) == 1, _text(message)
    return found[0]


async def _personal_cells(served: Served) -> list[str]:
    db = Database.from_url(f"sqlite+aiosqlite:///{served.db}")
    try:
        return leaks(await every_cell(db), words=(NAME_STEM,), digits=PHONE_DIGITS)
    finally:
        await db.dispose()


class WebChat:
    """The browser that followed the link: its cookie and its chat socket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, history: list[dict[str, Any]]) -> None:
        self.ws, self.history = ws, history

    async def say(self, text: str) -> dict[str, Any]:
        await self.ws.send_str(json.dumps({"type": "message", "id": uuid.uuid4().hex, "text": text}))
        while True:
            frame: dict[str, Any] = await self.ws.receive_json(timeout=REPLY_S)
            assert frame["type"] != "error", frame
            if frame["type"] == "message" and frame["author"] != "customer":
                return frame


async def test_a_deposit_asked_for_in_telegram_is_completed_in_the_web_chat(
        tg: FakeBotAPI, serve: Serve) -> None:
    served = await serve(telegram={"token": tg.token, "api_url": tg.base_url})

    offer = await _say(tg, "Хочу открыть вклад на 500 тысяч")
    text = _text(offer)
    assert "персональные данные" in text and "иностранные мессенджеры" in text, text
    assert "согласие на обработку" not in text  # no consent asked, no form here
    assert "request_contact" not in json.dumps(offer.get("reply_markup") or {})
    first_link = _link(offer)
    # Telegram must not fetch the one-time link for a preview.
    sends = [p for p in tg.params_of("sendMessage") if first_link in str(p.get("text", ""))]
    assert sends and all(p.get("link_preview_options", {}).get("is_disabled") for p in sends), sends
    # Typed anyway (and in the profile): masked, never stored; a fresh link replaces the first.
    refused = await _say(tg, f"Меня зовут {NAME}, мой телефон {PHONE}")
    assert "не сохранены" in _text(refused)
    bare = await _say(tg, f"{NAME} Смирнова, 8 912 345 67 89")
    link = _link(bare)
    assert link != first_link
    assert await _personal_cells(served) == []
    [(tg_dialog,)] = served.rows("SELECT id FROM dialogs WHERE channel = 'telegram'")

    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.post(first_link)).status_code == 410  # replaced by the newer offer
        page = await browser.get(link)  # a link preview fetches this: it must not spend the link
        assert page.status_code == 200 and "Продолжить в веб-чате" in page.text
        moved = await browser.post(link)
        assert moved.status_code == 303, moved.text
        cookie = moved.cookies["sovetnik_chat"]
        again = await browser.post(link)
        assert again.status_code == 410 and "уже использована" in again.text  # works once

    assert served.rows("SELECT id, channel FROM dialogs") == [(tg_dialog, "webchat")]  # the same dialog
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"ws://127.0.0.1:{served.port}/ws/chat",
                                      headers={"Origin": served.url, "Cookie": f"sovetnik_chat={cookie}"})
        history = (await ws.receive_json(timeout=REPLY_S))["messages"]
        chat = WebChat(ws, history)
        said = [m["text"] for m in history]
        assert said[0] == "Хочу открыть вклад на 500 тысяч"  # the Telegram part of the conversation
        assert any("перешёл из канала «Telegram»" in t for t in said)
        assert "сумма вклада — 500 000 ₽" in _plain(said[-1]) and "согласны" in said[-1], said[-1]
        assert history[-1]["quick_replies"] == ["Даю согласие", "Не даю согласия"]

        assert "Как к вам обращаться" in (await chat.say("Даю согласие"))["text"]
        assert "номер телефона" in (await chat.say(NAME))["text"]
        await chat.say(PHONE)
        summary = await chat.say("на год")
        assert "500 000" in _plain(summary["text"]) and NAME in summary["text"], summary["text"]
        done = await chat.say("Да, всё верно")
        assert "принята" in done["text"], done["text"]
        await ws.close()

    [(dialog_id, stage, amount)] = served.rows("SELECT dialog_id, stage, amount_minor FROM deals")
    assert (dialog_id, amount) == (tg_dialog, 500_000_00) and stage == "qualified"
    [(name, phone)] = served.rows("SELECT name, phone FROM contacts")
    assert (name, phone) == (NAME, "+79123456789")
    # Nothing of what was typed in Telegram: the stored Telegram messages stay masked.
    telegram_texts = [t for (t,) in served.rows("SELECT text FROM messages WHERE dialog_id = ? "
                                                "ORDER BY id LIMIT 6", tg_dialog)]
    assert not any(NAME in t or PHONE_DIGITS in re.sub(r"\D", "", t) for t in telegram_texts), telegram_texts

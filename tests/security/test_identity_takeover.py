"""A phone typed in a chat is no key to someone else's data (regression: takeover by phone).

A customer leaves a deposit application in Telegram (sharing their own number
with the contact button). An anonymous web-chat
visitor then leaves one with the same phone and another name, and sends
/forget. Before contacts were bound to messenger accounts, this renamed the
customer's contact to the visitor's name, moved their deal to the visitor's
dialog, and the visitor's /forget erased all of the customer's messages,
withdrew their consent and set their deal to lost. Driven through the real
`sovetnik serve`, Telegram against the loopback Bot API, the web chat over its
WebSocket.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from bots.engine import FORGET_TEXT
from store.repositories.erasure import ERASED_TEXT
from tests.fakes.telegram_server import FakeBotAPI
from tests.security.conftest import Serve, Served

CUSTOMER = 9001
NAME, VISITOR = "Анастасия", "Пётр Сидоров"
PHONE = "+79123456789"
REPLY_S = 60.0
SHARE = "<shares their own Telegram contact>"


def application(name: str, phone: str, amount: str) -> list[str]:
    """A deposit application up to the customer's «всё верно» under the summary."""
    return ["Хочу открыть вклад", "Согласен", name, phone, amount, "на год", "Да, всё верно"]


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


async def _telegram_customer(tg: FakeBotAPI, texts: list[str]) -> None:
    """Answer the form; the phone question with the «share my number» button."""
    for text in texts:
        # A reply may be more than one message: wait for this message's first one.
        before = len(tg.sent_to(CUSTOMER))
        if text == SHARE:
            tg.push_contact(CUSTOMER, PHONE, first_name=NAME, user_id=CUSTOMER, sender_id=CUSTOMER)
        else:
            tg.push_text(CUSTOMER, text, user_id=CUSTOMER, first_name=NAME)
        await tg.wait_sent(before + 1, timeout=REPLY_S, chat_id=CUSTOMER)


class WebVisitor:
    """A browser on the web chat: its cookie, its socket, the replies it has read."""

    def __init__(self, served: Served, cookie: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.served, self.cookie, self.ws = served, cookie, ws

    async def say(self, text: str) -> str:
        """Send a message; the text of the bot's reply to it."""
        await self.ws.send_str(json.dumps({"type": "message", "id": uuid.uuid4().hex, "text": text}))
        while True:
            frame: dict[str, Any] = await self.ws.receive_json(timeout=REPLY_S)
            if frame["type"] == "message" and frame["author"] != "customer":
                return str(frame["text"])
            assert frame["type"] != "error", frame


async def _visitor(served: Served, session: aiohttp.ClientSession) -> WebVisitor:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as browser:
        await browser.get("/")
        cookie = browser.cookies["sovetnik_chat"]
    ws = await session.ws_connect(f"ws://127.0.0.1:{served.port}/ws/chat",
                                  headers={"Origin": served.url, "Cookie": f"sovetnik_chat={cookie}"})
    assert (await ws.receive_json(timeout=REPLY_S))["type"] == "history"
    return WebVisitor(served, cookie, ws)


def _victim_contact(served: Served) -> int:
    [(contact_id,)] = served.rows("SELECT contact_id FROM contact_identities WHERE channel = 'telegram' "
                                  "AND user_ref = ?", str(CUSTOMER))
    return int(contact_id)


def _victim(served: Served, contact_id: int) -> dict[str, Any]:
    """What the store holds of the Telegram customer."""
    [(name, phone, erased, verified)] = served.rows(
        "SELECT name, phone, erased_at, phone_verified_at FROM contacts WHERE id = ?", contact_id)
    [(dialog_id,)] = served.rows("SELECT id FROM dialogs WHERE channel = 'telegram'")
    deals = served.rows("SELECT contact_id, stage, dialog_id, amount_minor, version FROM deals "
                        "WHERE contact_id = ?", contact_id)
    consents = served.rows("SELECT withdrawn_at FROM consent_records WHERE channel = 'telegram'")
    texts = [t for (t,) in served.rows("SELECT text FROM messages WHERE dialog_id = ? ORDER BY id",
                                       dialog_id)]
    return {"contact": (name, phone, erased), "verified": verified, "dialog": dialog_id, "deals": deals,
            "consents": consents, "texts": texts}


async def test_a_visitor_with_the_victims_phone_changes_and_erases_nothing_of_theirs(
        tg: FakeBotAPI, serve: Serve) -> None:
    # The application is left in Telegram itself: a bank that chose `collect` there.
    served = await serve(telegram={"token": tg.token, "api_url": tg.base_url, "personal_data": "collect"})
    await _telegram_customer(tg, application(NAME, SHARE, "500 тыс"))
    victim = _victim_contact(served)
    before = _victim(served, victim)
    assert before["contact"] == (NAME, PHONE, None)
    assert before["verified"] is not None  # Telegram vouched the number is the customer's own
    assert len(before["texts"]) == 14 and NAME in before["texts"]
    [(_, stage, _, amount, _)] = before["deals"]
    assert stage == "qualified" and amount == 500_000_00

    async with aiohttp.ClientSession() as session:
        visitor = await _visitor(served, session)
        replies = [await visitor.say(text) for text in application(VISITOR, PHONE, "10 тыс")]
        assert "принята" in replies[-1]
        assert await visitor.say("/forget") == FORGET_TEXT
        await visitor.ws.close()

    after = _victim(served, victim)
    assert after == before  # contact, deal, consent and every message as they were
    assert ERASED_TEXT not in after["texts"]
    assert _victim_contact(served) == victim  # the Telegram account still leads to it
    # The visitor's own application is what /forget erased.
    visitor_contacts = served.rows("SELECT name, phone, erased_at FROM contacts WHERE id != ?",
                                   victim)
    assert [(name, phone) for name, phone, _ in visitor_contacts] == [(None, None)]
    assert served.rows("SELECT count(*) FROM contacts WHERE phone_verified_at IS NOT NULL") == [(1,)]
    assert all(erased is not None for _, _, erased in visitor_contacts)
    web_texts = served.rows("SELECT m.text FROM messages m JOIN dialogs d ON d.id = m.dialog_id "
                            "WHERE d.channel = 'webchat'")
    assert not any(VISITOR in text for (text,) in web_texts)

"""A customer follows the one-time link from Telegram and finishes the application in the browser.

The Telegram part is handed to the engine as the Telegram adapter would (the
channel's default policy is `redirect`); the link is the one the customer was
sent. In chromium: the link's page, its button, the web chat with the
Telegram messages above and the consent buttons under the carried-over form.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from bots.messages import InboundMessage
from store.models import OutboxItem
from tests.browser.conftest import LiveApp
from tests.browser.pages import ChatPage

pytestmark = pytest.mark.browser

_LINK = re.compile(r"https?://\S+/chat/continue/\S+")


def _telegram_offer(app: LiveApp, text: str) -> str:
    """A Telegram customer's message; the path of the one-time link in the bot's reply."""
    chat = str(uuid.uuid4().int % 10**9)
    message = InboundMessage(channel="telegram", external_update_id=uuid.uuid4().hex, dialog_key=chat,
                             user_ref=chat, text=text)

    async def offer() -> str:
        await app.runtime.engine.accept(message)
        await app.runtime.engine.idle(30)
        async with app.runtime.db.session() as session:
            items = (await session.scalars(sa.select(OutboxItem).where(
                OutboxItem.channel == "telegram", OutboxItem.dialog_key == chat))).all()
        [link] = _LINK.findall(items[-1].payload["text"])
        # The link names `server.port`; this app listens on a port of its own.
        return "/chat/continue/" + link.split("/chat/continue/")[1]

    return str(app.call(offer))


def test_the_link_opens_the_same_dialog_in_the_web_chat(live_app: LiveApp,
                                                         new_page: Callable[..., Any]) -> None:
    link = _telegram_offer(live_app, "Хочу открыть вклад на 500 тысяч")
    page = new_page(900, 760)

    page.goto(link)
    page.get_by_role("button", name="Продолжить в веб-чате").click()

    page.wait_for_url(re.compile(r"/$"))
    chat = ChatPage(page)
    expect(page.locator("#log .bubble.customer").first).to_have_text("Хочу открыть вклад на 500 тысяч")
    expect(chat.replies.last).to_contain_text("Вы согласны на обработку персональных данных?")
    page.locator("#quick button", has_text="Даю согласие").click()
    expect(chat.replies.last).to_contain_text("Как к вам обращаться?")

    page.goto(link)  # used: the page says so and offers a fresh start
    expect(page.locator(".error")).to_contain_text("уже использована")

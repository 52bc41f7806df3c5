"""A customer in the web chat and a manager in the console, each in their own browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MANAGER, LiveApp
from tests.browser.pages import ChatPage, screenshot, sign_in

pytestmark = pytest.mark.browser

HANDED_OFF = "Диалог передан менеджеру"


def test_customer_gets_a_sourced_answer(new_page: Callable[..., Any], screenshots: Path) -> None:
    chat = ChatPage(new_page(900, 760)).open()

    reply = chat.ask("Какая ставка по вкладу «Вершина Доходный» на 12 месяцев?")

    expect(reply).to_have_attribute("data-author", "agent")
    expect(reply.locator(".who")).to_have_text("Помощник")
    expect(reply.locator(".text")).to_contain_text("13,5 %")
    expect(reply.locator(".sources")).to_contain_text("Источник: deposits/products.md")
    screenshot(chat.page, screenshots / "webchat.png")


def test_customer_asks_for_a_manager(new_page: Callable[..., Any]) -> None:
    chat = ChatPage(new_page(900, 760)).open()

    reply = chat.ask("Позовите менеджера")

    expect(reply.locator(".text")).to_contain_text("менеджер")
    expect(chat.page.locator("#status")).to_have_text(re.compile(HANDED_OFF))


def test_manager_takes_over_and_returns_the_dialog(new_page: Callable[..., Any], live_app: LiveApp,
                                                   screenshots: Path) -> None:
    manager = new_page(1280, 800)
    sign_in(manager, *MANAGER)
    rows = manager.locator("#rows tr[data-dialog]")
    expect(manager.locator("#rows")).not_to_contain_text("Загрузка")
    already = set(rows.evaluate_all("rows => rows.map(r => r.dataset.dialog)"))

    chat = ChatPage(new_page(900, 760)).open()
    chat.ask("Можно ли пополнять вклад «Вершина Гибкий»?")
    handoff = chat.ask("Позовите менеджера, пожалуйста")
    expect(handoff.locator(".text")).to_contain_text("менеджер")
    expect(chat.page.locator("#status")).to_have_text(re.compile(HANDED_OFF))

    # The queue page was opened before the handoff and is never reloaded: the row comes by itself.
    dialog_id = str(live_app.webchat_dialog(chat.dialog_key()).id)
    assert dialog_id not in already
    new_row = manager.locator(f"#rows tr[data-dialog='{dialog_id}']")
    expect(new_row).to_have_count(1)
    expect(new_row).to_contain_text("веб-чат")
    expect(new_row).to_contain_text("ждёт менеджера")
    expect(new_row).to_contain_text("клиент попросил менеджера")
    screenshot(manager, screenshots / "queue.png")

    new_row.get_by_role("link", name=f"#{dialog_id}").click()
    expect(manager).to_have_url(re.compile(rf"/console/dialogs/{dialog_id}$"))
    expect(manager.locator("h2")).to_contain_text(f"Диалог #{dialog_id}")
    expect(manager.locator("#messages")).to_contain_text("Вершина Гибкий")

    answer = "Здравствуйте! Меня зовут Ольга, я менеджер банка. Да, «Вершина Гибкий» можно пополнять."
    manager.locator("#reply-form textarea").fill(answer)
    replies = chat.replies.count()
    manager.get_by_role("button", name="Отправить клиенту").click()
    expect(manager.locator(".badge")).to_have_text("у менеджера")
    expect(manager.locator("#messages .msg.manager")).to_contain_text("Ольга")

    from_manager = chat.reply_after(replies)
    expect(from_manager).to_have_attribute("data-author", "manager")
    expect(from_manager.locator(".who")).to_have_text("Менеджер")
    expect(from_manager.locator(".text")).to_have_text(answer)
    screenshot(manager, screenshots / "dialog.png", full_page=True)

    replies = chat.replies.count()
    manager.get_by_role("button", name="Вернуть боту").click()
    expect(manager.locator(".badge")).to_have_text("у бота")
    note = chat.reply_after(replies)
    expect(note.locator(".text")).to_contain_text("Менеджер завершил консультацию")

    again = chat.ask("Какой минимальный срок вклада «Вершина Доходный»?")
    expect(again).to_have_attribute("data-author", "agent")
    expect(again.locator(".sources")).to_contain_text("Источник:")
    expect(chat.page.locator("#status")).not_to_have_text(re.compile(HANDED_OFF))

    # Back in the queue, a fresh poll after the agent's answer: the dialog did not bounce back.
    manager.goto("/console/queue")
    expect(manager.locator("#rows")).not_to_contain_text("Загрузка")
    with manager.expect_response(lambda r: r.url.endswith("/console/api/queue")):
        pass  # the next poll
    expect(manager.locator(f"#rows tr[data-dialog='{dialog_id}']")).to_have_count(0)


def test_dashboard_draws_the_figures(new_page: Callable[..., Any], screenshots: Path) -> None:
    manager = new_page(1280, 800)
    sign_in(manager, *MANAGER)

    manager.get_by_role("link", name="Дашборд").click()

    expect(manager.locator("h3", has_text="Диалоги по дням")).to_be_visible()
    expect(manager.locator("svg.chart").first).to_be_visible()
    expect(manager.locator("main")).to_contain_text("Решено без человека")
    expect(manager.locator("main")).to_contain_text("клиент попросил менеджера")
    screenshot(manager, screenshots / "dashboard.png", full_page=True)

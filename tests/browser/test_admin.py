"""An admin edits knowledge and roles in the console; a manager may not."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN, MANAGER, LiveApp
from tests.browser.pages import ChatPage, sign_in

pytestmark = pytest.mark.browser

LIMIT_QUESTION = "Какой лимит страхового возмещения по вкладам?"


def test_knowledge_edit_is_live_for_the_next_answer(new_page: Callable[..., Any], live_app: LiveApp) -> None:
    chat = ChatPage(new_page(900, 760)).open()
    before = chat.ask(LIMIT_QUESTION)
    expect(before.locator(".text")).to_contain_text("1,4 млн ₽")
    expect(before.locator(".sources")).to_contain_text("deposits/insurance.md")

    admin = new_page(1280, 900)
    sign_in(admin, *ADMIN)
    admin.get_by_role("link", name="База знаний").click()
    admin.locator("tr", has_text="deposits/insurance.md").get_by_role("link", name="Изменить").click()
    editor = admin.locator("#knowledge-text")
    text = editor.input_value()
    assert "1,4 млн" in text
    editor.fill(text.replace("1,4 млн", "2,1 млн"))
    admin.get_by_role("button", name="Сохранить и обновить базу").click()

    expect(admin.locator(".ok")).to_contain_text("База знаний обновлена: добавлено 0, обновлено 1, удалено 0")
    assert "2,1 млн" in (live_app.docs_dir / "deposits" / "insurance.md").read_text(encoding="utf-8")

    after = chat.ask(LIMIT_QUESTION)
    expect(after.locator(".text")).to_contain_text("2,1 млн ₽")
    expect(after.locator(".text")).not_to_contain_text("1,4 млн")
    expect(after.locator(".sources")).to_contain_text("deposits/insurance.md")

    admin.get_by_role("link", name="Журнал").click()
    expect(admin.locator("tbody tr").first).to_contain_text("документ базы знаний изменён")
    expect(admin.locator("tbody tr").first).to_contain_text("deposits/insurance.md")


def test_invalid_role_is_refused_and_the_old_one_keeps_answering(new_page: Callable[..., Any],
                                                                live_app: LiveApp) -> None:
    role_file = live_app.roles_dir / "deposit_consultant.yaml"
    original = role_file.read_text(encoding="utf-8")
    admin = new_page(1280, 900)
    sign_in(admin, *ADMIN)
    admin.get_by_role("link", name="Роли").click()
    admin.locator("tr", has_text="deposit_consultant").get_by_role("link", name="Изменить").click()

    editor = admin.locator("#role-text")
    broken = editor.input_value().replace("  - knowledge_search\n", "  - knowledge_search\n  - teleport\n", 1)
    assert "teleport" in broken
    editor.fill(broken)
    with admin.expect_response(re.compile(r"/console/admin/roles/deposit_consultant$")) as saved:
        admin.get_by_role("button", name="Сохранить", exact=True).click()

    assert saved.value.status == 422
    error = admin.locator("#role-error")
    expect(error).to_contain_text("Роль не сохранена")
    expect(error).to_contain_text("teleport")
    expect(admin.locator("#role-saved")).to_have_count(0)
    expect(admin.locator("pre.diff")).to_contain_text("+  - teleport")
    assert role_file.read_text(encoding="utf-8") == original

    chat = ChatPage(new_page(900, 760)).open()
    reply = chat.ask("Можно ли досрочно закрыть вклад «Вершина Доходный»?")
    expect(reply).to_have_attribute("data-author", "agent")
    expect(reply.locator(".sources")).to_contain_text("Источник: deposits/products.md")
    assert live_app.webchat_dialog(chat.dialog_key()).role_id == "deposit_consultant"
    assert "teleport" not in live_app.runtime.roles.get("deposit_consultant").tools


def test_manager_is_refused_on_admin_pages_and_actions(new_page: Callable[..., Any],
                                                       live_app: LiveApp) -> None:
    manager = new_page(1280, 800)
    sign_in(manager, *MANAGER)
    expect(manager.locator("header nav")).not_to_contain_text("Роли")
    expect(manager.locator("header nav")).not_to_contain_text("База знаний")

    for path in ("/console/admin/roles", "/console/admin/roles/front_desk", "/console/admin/knowledge",
                 "/console/admin/knowledge/edit?path=deposits/insurance.md", "/console/admin/playground",
                 "/console/admin/audit"):
        response = manager.goto(path)
        assert response is not None and response.status == 403, path
        expect(manager.locator("h2")).to_have_text("Нет доступа")

    # Actions too, even with the manager's own valid CSRF token.
    csrf = manager.locator("input[name=csrf]").first.get_attribute("value")
    insurance = live_app.docs_dir / "deposits" / "insurance.md"
    text = insurance.read_text(encoding="utf-8")
    for path, form in (("/console/admin/knowledge/edit", {"path": "deposits/insurance.md", "text": "x"}),
                       ("/console/admin/knowledge/delete", {"path": "deposits/insurance.md"}),
                       ("/console/admin/roles/front_desk", {"text": "id: x", "action": "save"})):
        response = manager.request.post(path, form={"csrf": csrf or "", **form}, max_redirects=0)
        assert response.status == 403, path
    assert insurance.read_text(encoding="utf-8") == text

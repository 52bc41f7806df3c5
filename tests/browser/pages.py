"""What a customer, a manager and an admin do in the browser, as small page helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

SCREENSHOT_LIMIT = 300 * 1024


class ChatPage:
    """The customer's web chat at `/`."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.replies = page.locator("#log .bubble:not(.customer)")

    def open(self) -> ChatPage:
        self.page.goto("/")
        expect(self.page.locator("#text")).to_be_editable()
        return self

    def ask(self, text: str) -> Locator:
        """Send a message and return the bubble of the reply it gets."""
        before = self.replies.count()
        self.send(text)
        expect(self.replies).to_have_count(before + 1)
        return self.replies.nth(before)

    def send(self, text: str) -> None:
        """Type a message and press Enter (no reply awaited)."""
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")
        expect(self.page.locator("#log .bubble.customer").last).to_have_text(text)

    def reply_after(self, before: int) -> Locator:
        """The reply that follows the first `before` ones (a manager's, a note from the bank)."""
        expect(self.replies).to_have_count(before + 1)
        return self.replies.nth(before)

    def dialog_key(self) -> str:
        """The chat cookie that names this customer's dialog."""
        cookies = {c["name"]: c["value"] for c in self.page.context.cookies()}
        return cookies["sovetnik_chat"]


def sign_in(page: Page, name: str, password: str) -> None:
    """Sign in to the console; lands on the queue."""
    page.goto("/console/login")
    page.get_by_label("Имя").fill(name)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(_ends_with("/console/queue"))


def screenshot(target: Page | Locator, path: Path, **options: Any) -> None:
    """Save a PNG the README links to, and keep it small."""
    target.screenshot(path=str(path), animations="disabled", **options)
    size = path.stat().st_size
    assert size < SCREENSHOT_LIMIT, f"{path.name} is {size // 1024} KB, over {SCREENSHOT_LIMIT // 1024} KB"


def _ends_with(suffix: str) -> Any:
    import re

    return re.compile(re.escape(suffix) + r"$")

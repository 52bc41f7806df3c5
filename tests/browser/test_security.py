"""In a real browser: the Content-Security-Policy breaks nothing, and another origin's page
cannot read a customer's chat through the WebSocket (regression: cross-site WebSocket hijacking)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN, LiveApp
from tests.browser.pages import ChatPage, sign_in

pytestmark = pytest.mark.browser

SECRET_QUESTION = "Меня зовут Ефросинья, какая ставка по вкладу на 12 месяцев?"

# A page of the same host on another port (same site, so the browser sends the chat cookie).
HIJACK = """<!doctype html><html><body><pre id="out">…</pre><script>
const out = document.getElementById("out");
const ws = new WebSocket("ws://127.0.0.1:%(port)s/ws/chat");
ws.onmessage = (e) => { out.textContent = "read: " + e.data; };
ws.onclose = () => { if (out.textContent === "…") out.textContent = "closed"; };
</script></body></html>"""


@contextlib.contextmanager
def _serve_page(body: bytes) -> Iterator[str]:
    """Serve one HTML page from another port of the same host; its URL."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _csp_violations(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def test_another_origins_page_cannot_read_the_customers_chat(new_page: Callable[..., Any],
                                                            live_app: LiveApp) -> None:
    chat = ChatPage(new_page(900, 760)).open()
    chat.ask(SECRET_QUESTION)
    port = live_app.url.rsplit(":", 1)[1]
    evil = chat.page.context.new_page()

    with _serve_page((HIJACK % {"port": port}).encode()) as evil_url:
        evil.goto(evil_url)
        expect(evil.locator("#out")).not_to_have_text("…")

    expect(evil.locator("#out")).to_have_text("closed")
    assert "Ефросинья" not in evil.locator("#out").inner_text()
    again = ChatPage(chat.page.context.new_page()).open()  # the chat itself still works
    # History comes back (the name itself is masked before consent, by design).
    expect(again.page.locator("#log")).to_contain_text("какая ставка по вкладу на 12 месяцев")


def test_chat_and_console_run_under_the_content_security_policy(new_page: Callable[..., Any],
                                                               live_app: LiveApp) -> None:
    chat_page = new_page(900, 760)
    chat_violations = _csp_violations(chat_page)
    chat = ChatPage(chat_page).open()
    expect(chat.ask("Какая ставка по вкладу на 12 месяцев?").locator(".text")).to_contain_text("%")

    admin = new_page(1280, 900)
    console_violations = _csp_violations(admin)
    sign_in(admin, *ADMIN)
    expect(admin.locator("#rows tr").first).to_be_visible()  # filled by the queue script
    admin.get_by_role("link", name="База знаний").click()
    row = admin.locator("tr", has_text="deposits/insurance.md")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    admin.once("dialog", dismiss)
    row.get_by_role("button", name="Удалить").click()

    expect(row).to_be_visible()
    assert asked == ["Удалить deposits/insurance.md?"]  # the confirmation still comes, from a file
    assert (live_app.docs_dir / "deposits" / "insurance.md").exists()
    assert chat_violations == [] and console_violations == []

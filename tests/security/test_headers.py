"""Every page carries the security headers; console pages are never cached."""

from __future__ import annotations

import httpx

from bots.web.middleware import CSP
from tests.security.conftest import MANAGER, Serve, sign_in


async def test_pages_carry_the_security_headers_and_the_console_is_not_cached(serve: Serve) -> None:
    served = await serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as browser:
        chat = await browser.get("/")
        login = await browser.get("/console/login")
        await sign_in(browser, *MANAGER)
        queue = await browser.get("/console/queue")

    for page in (chat, login, queue):
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
    assert login.headers["cache-control"] == "no-store"
    assert queue.headers["cache-control"] == "no-store"
    assert "<script>" not in queue.text and "onsubmit=" not in queue.text  # nothing CSP would block

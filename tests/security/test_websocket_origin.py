"""A page of another origin cannot use the customer's chat socket or post to the console."""

from __future__ import annotations

import aiohttp
import httpx
import pytest

from tests.security.conftest import Serve, Served, login_form

CHAT_COOKIE = "sovetnik_chat"


async def _chat_cookie(served: Served) -> str:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as browser:
        assert (await browser.get("/")).status_code == 200
        return browser.cookies[CHAT_COOKIE]


async def _open_chat(served: Served, cookie: str, origin: str) -> dict[str, object]:
    """The first frame the chat socket sends (the history), opened from a page of ``origin``."""
    headers = {"Origin": origin, "Cookie": f"{CHAT_COOKIE}={cookie}"}
    url = f"ws://127.0.0.1:{served.port}/ws/chat"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        frame: dict[str, object] = await ws.receive_json(timeout=30)
        return frame


async def test_the_chat_socket_refuses_another_origin_and_serves_its_own(serve: Serve) -> None:
    served = await serve()
    cookie = await _chat_cookie(served)

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _open_chat(served, cookie, f"http://127.0.0.1:{served.port + 1}")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await _open_chat(served, cookie, "null")  # a sandboxed frame or a file:// page
    own = await _open_chat(served, cookie, served.url)

    assert refused.value.status == 403
    assert own["type"] == "history"


async def test_a_state_change_from_another_origin_is_refused(serve: Serve) -> None:
    served = await serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as browser:
        csrf = await login_form(browser)
        form = {"name": "olga", "password": "olga-password-1", "csrf": csrf}
        foreign = await browser.post("/console/login", data=form,
                                     headers={"Origin": f"http://127.0.0.1:{served.port + 1}"})
        own = await browser.post("/console/login", data=form, headers={"Origin": served.url})

    assert foreign.status_code == 403 and "чужого сайта" in foreign.text
    assert own.status_code == 303


async def test_configured_public_origins_replace_the_default(serve: Serve) -> None:
    served = await serve(server={"public_origins": ["https://bank.example"]})
    cookie = await _chat_cookie(served)

    with pytest.raises(aiohttp.WSServerHandshakeError):
        await _open_chat(served, cookie, served.url)
    assert (await _open_chat(served, cookie, "https://bank.example"))["type"] == "history"

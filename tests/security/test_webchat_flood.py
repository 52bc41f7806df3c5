"""Web chat flooding: one address with 20 sockets cannot starve a normal customer.

The app runs under uvicorn behind what looks like a reverse proxy on
127.0.0.1: uvicorn trusts `X-Forwarded-For` from loopback (its default), so
the flooder and the customer come from different client addresses, as they
would in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bots.web.flood import FloodLimits
from bots.web.webchat import COOKIE
from tests.security.live_app import LiveApp, running_app

FLOOD_IPS = {False: "203.0.113.66", True: "203.0.113.67"}  # a fresh address per case
CUSTOMER_IP = "198.51.100.7"
SOCKETS = 20
PER_SOCKET = 30
ANSWER_WITHIN_S = 5.0
QUESTION = "Какая сумма вкладов застрахована?"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app under uvicorn for this module's tests."""
    yield from running_app(tmp_path_factory)


async def _client_id(app: LiveApp, ip: str) -> str:
    async with httpx.AsyncClient(base_url=app.url) as client:
        page = await client.get("/", headers={"X-Forwarded-For": ip})
    assert page.status_code == 200
    return page.cookies[COOKIE]


def _ws_url(app: LiveApp) -> str:
    return app.url.replace("http://", "ws://") + "/ws/chat"


@contextlib.asynccontextmanager
async def _socket(app: LiveApp, cookie: str, ip: str) -> AsyncIterator[ClientConnection]:
    async with connect(_ws_url(app), additional_headers={"Cookie": f"{COOKIE}={cookie}",
                                                         "X-Forwarded-For": ip}) as ws:
        history = json.loads(await ws.recv())
        assert history["type"] == "history"
        yield ws


@dataclass
class Tally:
    acks: int = 0
    refusals: list[str] = field(default_factory=list)


async def _read(ws: ClientConnection, tally: Tally) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "ack":
                tally.acks += 1
            elif frame["type"] == "error":
                tally.refusals.append(frame["text"])


async def _flood(app: LiveApp, ip: str, n: int, tally: Tally, started: asyncio.Event, stop: asyncio.Event,
                 cookie: str | None = None) -> None:
    cookie = cookie or await _client_id(app, ip)
    async with _socket(app, cookie, ip) as ws:
        reader = asyncio.create_task(_read(ws, tally))
        for i in range(PER_SOCKET):
            await ws.send(json.dumps({"type": "message", "id": f"flood-{n}-{i}", "text": QUESTION}))
            started.set()
        await stop.wait()
        reader.cancel()


async def _customer_answer_time(app: LiveApp, ip: str = CUSTOMER_IP) -> float:
    cookie = await _client_id(app, ip)
    async with _socket(app, cookie, ip) as ws:
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "message", "id": "customer-1", "text": QUESTION}))
        async with asyncio.timeout(60):
            while True:
                frame = json.loads(await ws.recv())
                assert frame["type"] != "error", frame
                if frame["type"] == "message" and frame["author"] == "agent":
                    return time.monotonic() - sent


async def _under_flood(app: LiveApp, shared_cookie: bool) -> tuple[float, Tally]:
    tally, started, stop = Tally(), asyncio.Event(), asyncio.Event()
    ip = FLOOD_IPS[shared_cookie]
    cookie = await _client_id(app, ip) if shared_cookie else None
    flooders = [asyncio.create_task(_flood(app, ip, n, tally, started, stop, cookie))
                for n in range(SOCKETS)]
    try:
        await asyncio.wait_for(started.wait(), 30)
        await asyncio.sleep(0.5)  # the flood is under way
        took = await _customer_answer_time(app)
        async with asyncio.timeout(120):  # every flood message gets its ack or refusal
            while tally.acks + len(tally.refusals) < SOCKETS * PER_SOCKET:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*flooders, return_exceptions=True)
    return took, tally


@pytest.mark.parametrize("shared_cookie", [False, True], ids=["20 client ids", "one client id"])
async def test_a_flood_from_20_sockets_leaves_a_normal_customer_answered_within_5_s(
        live: LiveApp, shared_cookie: bool) -> None:
    took, tally = await _under_flood(live, shared_cookie)
    assert took < ANSWER_WITHIN_S, f"the customer waited {took:.1f} s"
    limits = FloodLimits()
    most = limits.per_client if shared_cookie else limits.per_ip
    assert 0 < tally.acks <= most, f"{tally.acks} of {SOCKETS * PER_SOCKET} flood messages accepted"
    assert tally.refusals and all(any(c.isalpha() for c in text) for text in tally.refusals)
    await _drained(live)


async def _drained(app: LiveApp) -> None:
    """Wait until the app has answered everything it accepted (the next test starts clean)."""
    async with asyncio.timeout(120):
        while await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_pending(app), app.loop)):
            await asyncio.sleep(0.2)


async def _pending(app: LiveApp) -> int:
    from store.repositories import InboxRepository

    async with app.runtime.db.session() as session:
        return len(await InboxRepository(session).pending())


async def test_a_client_cannot_pick_its_own_id(live: LiveApp) -> None:
    forged = (await _client_id(live, CUSTOMER_IP))[:-2] + "xx"
    for chosen in ("a" * 32, "attacker-chosen-key-123456", forged):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(_ws_url(live), additional_headers={"Cookie": f"{COOKIE}={chosen}"}) as ws:
                await ws.recv()
        assert refused.value.response.status_code == 403


async def test_the_server_issued_id_is_kept_across_visits(live: LiveApp) -> None:
    cookie = await _client_id(live, CUSTOMER_IP)
    async with httpx.AsyncClient(base_url=live.url, cookies={COOKIE: cookie}) as client:
        again = await client.get("/")
    assert COOKIE not in again.cookies  # a valid id is not replaced

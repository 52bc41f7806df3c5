"""A loopback CRM webhook receiver: checks signatures, fails on request, can go down.

It records what a real CRM would keep: each event accepted (answered 2xx) by
its idempotency key, and per deal the order versions were accepted in. An
event accepted twice is a duplicate delivery; the tests require none.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from pipelines.leads.push import EVENT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify

HOST = "127.0.0.1"
SECRET = "test-webhook-secret"


class CrmReceiver:
    """The receiving end of the CRM webhook, on 127.0.0.1."""

    def __init__(self, secret: str = SECRET, seed: int = 20260101) -> None:
        self.secret = secret
        self.failure_rate = 0.0
        self.answer: Callable[[dict[str, Any]], int | None] = lambda _payload: None
        self.accepted: Counter[str] = Counter()
        self.versions: dict[int, list[int]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.failed = 0
        self.bad_signatures = 0
        self._random = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._port}/crm/deals"

    async def up(self) -> None:
        """Start serving (on the same port as before, after `down`)."""
        app = web.Application()
        app.router.add_post("/crm/deals", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self._port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def down(self) -> None:
        """Stop serving: new connections are refused, open ones are closed."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.up()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.down()

    async def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Poll `condition`; fail with `what` after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
        assert condition(), what

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if not verify(self.secret, body, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        payload = json.loads(body)
        key = request.headers[IDEMPOTENCY_HEADER]
        assert key == payload["event_id"] and request.headers[EVENT_HEADER] == payload["event"]
        status = self.answer(payload)
        if status is None and self._random.random() < self.failure_rate:
            status = 500
        if status is not None and status >= 300:
            self.failed += 1
            return web.Response(status=status, text="try later")
        if not self.accepted[key]:
            self.events.append(payload)
            self.versions.setdefault(payload["deal"]["id"], []).append(payload["deal"]["version"])
        self.accepted[key] += 1
        return web.Response(status=status or 200, text="ok")

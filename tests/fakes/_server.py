"""Loopback aiohttp server lifecycle shared by the fake external services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

HOST = "127.0.0.1"

# Long-polls and scripted delays are woken or cancelled on shutdown, so a
# short grace period is enough and keeps a failing test from hanging.
SHUTDOWN_TIMEOUT_S = 1.0


class LoopbackServer:
    """An aiohttp application served on 127.0.0.1 at a free port.

    Subclasses add their routes in :meth:`_setup_routes` and use the server as
    an async context manager; :attr:`root_url` is known once it has started.
    """

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._changed = asyncio.Event()
        self._closing = False

    def _setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started: use `async with`")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        """Bind a free loopback port and start serving."""
        app = web.Application()
        self._setup_routes(app)
        # handler_cancellation: a client that gives up (timeout, cancelled
        # long-poll) cancels its handler instead of leaving it to finish.
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        self._closing = False

    async def stop(self) -> None:
        """Wake every waiting handler, then shut the server down."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _notify(self) -> None:
        """Signal that the recorded state changed (wakes :meth:`_wait_until`)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds or ``timeout`` seconds pass.

        Returns the final value of the predicate, so callers decide how to fail.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return predicate()
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True


class SendHold:
    """Holds a fake's answers to sends, so a test can kill the client at a chosen moment.

    ``hold("before")`` keeps a send from being recorded (the customer sees
    nothing yet); ``hold("after")`` records it, then keeps the answer back (the
    customer has the message, the client does not know). ``held`` counts the
    sends waiting; ``release()`` lets them all go and stops holding.
    """

    def __init__(self, notify: Callable[[], None]) -> None:
        self.mode: str | None = None
        self.held = 0
        self._notify = notify
        self._released = asyncio.Event()

    def hold(self, mode: str) -> None:
        """Hold every send from now on, at stage `mode` ("before" or "after" recording)."""
        assert mode in ("before", "after")
        self.mode = mode
        self._released = asyncio.Event()

    def release(self) -> None:
        """Let held sends go and hold no more."""
        self.mode = None
        self._released.set()

    async def at(self, stage: str) -> None:
        """Called by a send handler at `stage`; waits there while sends are held at it."""
        if self.mode != stage:
            return
        released = self._released
        self.held += 1
        self._notify()
        try:
            await released.wait()
        finally:
            self.held -= 1

"""Request body limits per route, enforced before and while a body is read.

A declared `Content-Length` over the route's limit is answered 413 at once,
without reading a byte of the body; a body without one (chunked) is counted
as it arrives and refused as soon as it passes the limit. Nothing is
buffered here: the handler reads the body as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class BodyLimit:
    """The largest body, in bytes, a request to `prefix` (and below it) may carry."""

    prefix: str
    max_bytes: int


class BodyTooLarge(Exception):
    """The body passed its route's limit while it was being read."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def _refusal(limit: int, status: int = 413) -> PlainTextResponse:
    if status == 400:
        return PlainTextResponse("Некорректная длина запроса.", status_code=400)
    shown = f"{limit // (1024 * 1024)} МБ" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} КБ"
    return PlainTextResponse(f"Слишком большой запрос: здесь принимается не больше {shown}.",
                             status_code=status, headers={"Connection": "close"})


class BodyLimitMiddleware:
    """ASGI middleware: the longest matching `BodyLimit` applies, else `default_bytes`."""

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit], default_bytes: int) -> None:
        self.app = app
        self.limits = sorted(limits, key=lambda rule: len(rule.prefix), reverse=True)
        self.default_bytes = default_bytes

    def limit_for(self, path: str) -> int:
        """The body limit of a request path."""
        for rule in self.limits:
            if path == rule.prefix or path.startswith(rule.prefix.rstrip("/") + "/"):
                return rule.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and (declared < 0 or declared > limit):
            await _refusal(limit, 400 if declared < 0 else 413)(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await _refusal(limit)(scope, receive, send)

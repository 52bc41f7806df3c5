"""ASGI middleware of the web app: security headers, and the Origin rule for state changes."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.config import ServerSettings
from bots.web.guard import origin_allowed

#: Scripts and styles come from /static only (inline style attributes are allowed:
#: they cannot run code); no framing, no plugins, forms post back to us.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    """Adds `HEADERS` to every response, and ``Cache-Control: no-store`` under `/console`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/console")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class OriginCheck:
    """Refuses a state-changing request a browser sent from a page of another origin.

    Messenger webhooks come from servers, which send no ``Origin``; they pass
    and are checked by their own secrets.
    """

    def __init__(self, app: ASGIApp, server: ServerSettings) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS \
                and not origin_allowed(self.server, Headers(scope=scope)):
            response = PlainTextResponse("Запрос с чужого сайта отклонён.", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

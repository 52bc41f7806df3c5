"""Routes of the web chat: the page, its WebSocket, and the one-time links from other channels.

A link from a `redirect` channel (`bots.handover`) first shows a page with a
button; only the button's POST uses the link, so a messenger fetching the link
for a preview does not spend it. The POST gives the browser a fresh chat cookie
whose dialog is the carried-over one.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bots.channels.base import ChannelContext
from bots.channels.webchat import CHANNEL, WebchatChannel
from bots.messages import InboundMessage
from bots.web.auth import session_secret
from bots.web.flood import TOO_MANY_TABS, ClientIds, FloodGuard
from bots.web.guard import origin_allowed
from bots.web.templating import render
from store.repositories import DialogRepository, InboxRepository, MessageRepository

COOKIE = "sovetnik_chat"
MAX_TEXT = 4000
MAX_ID = 64
MAX_TOKEN = 512
HISTORY = 50


def _flood_guard(context: ChannelContext) -> FloodGuard:
    """This process's flood counters, or every process's under `scale.rate_limits: redis`."""
    redis = context.redis
    if context.settings.scale.rate_limits != "redis" or redis is None:
        return FloodGuard()
    from bots.web.flood_redis import RedisWindow

    prefix = context.settings.redis.prefix
    return FloodGuard(windows=lambda name, limit, window_s: RedisWindow(redis, name, limit, window_s,
                                                                        prefix=prefix))


def routes(channel: WebchatChannel, context: ChannelContext) -> list[Route | WebSocketRoute]:
    """The chat page at `/` and the socket at `/ws/chat`, for `channel`."""
    settings = context.settings
    configured = settings.server.secret_key.get_secret_value() if settings.server.secret_key else None
    ids = ClientIds(session_secret(configured, settings.path(Path("var"))))
    guard = _flood_guard(context)

    def with_cookie(response: Response, key: str) -> Response:
        response.set_cookie(COOKIE, key, max_age=90 * 24 * 3600, httponly=True, samesite="lax",
                            secure=settings.server.cookie_secure)
        return response

    async def page(request: Request) -> Response:
        response = render(request, "chat.html", {})
        if not ids.valid(request.cookies.get(COOKIE)):  # the server names the client, never the client
            with_cookie(response, ids.issue(secrets.token_urlsafe(24)))
        return response

    async def carry_over(request: Request) -> Response:
        token = str(request.path_params["token"])
        handover = context.handover
        usable = handover is not None and len(token) <= MAX_TOKEN and await handover.usable(token)
        if request.method == "POST" and usable and handover is not None:
            key = ids.issue(secrets.token_urlsafe(24))  # a fresh dialog key: the carried-over dialog's
            if await handover.redeem(token, CHANNEL, key):
                return with_cookie(RedirectResponse("/", status_code=303), key)
            usable = False
        return render(request, "continue.html", {"usable": usable}, status_code=200 if usable else 410)

    async def socket(ws: WebSocket) -> None:
        key = ws.cookies.get(COOKIE)
        if not origin_allowed(context.settings.server, ws.headers):  # another site's page
            await ws.close(code=1008)
            return
        if key is None or not ids.valid(key):
            await ws.close(code=1008)
            return
        ip = ws.client.host if ws.client else "-"
        if not guard.open_socket(ip, key):
            await ws.accept()
            await ws.send_json({"type": "error", "text": TOO_MANY_TABS})
            await ws.close(code=1008)
            return
        try:
            await ws.accept()
            await channel.connect(key, ws)
            await ws.send_json({"type": "history", "messages": await _history(context, key)})
            await _serve(context, ws, key, guard, ip)
        except WebSocketDisconnect:
            pass
        finally:
            guard.close_socket(ip, key)
            await channel.disconnect(key, ws)

    return [Route("/", page), WebSocketRoute("/ws/chat", socket),
            Route("/chat/continue/{token}", carry_over, methods=["GET", "POST"])]


async def _serve(context: ChannelContext, ws: WebSocket, key: str, guard: FloodGuard, ip: str) -> None:
    async def pending(keys: list[str]) -> int:
        async with context.db.session() as session:
            return await InboxRepository(session).pending_count(CHANNEL, keys)

    while True:
        raw = await ws.receive_text()
        frame, problem = _parse(raw)
        if problem:
            await ws.send_json({"type": "error", "text": problem})
            continue
        async with guard.lock(ip):
            refusal = await guard.refusal(ip, key, pending)
            if refusal is None:
                inbound = InboundMessage(channel=CHANNEL, external_update_id=f"{key}:{frame['id']}",
                                         external_message_id=frame["id"], dialog_key=key, user_ref=key,
                                         text=frame["text"])
                inbox_id = await context.accept(inbound)
        if refusal is not None:
            await ws.send_json({"type": "error", "text": refusal, "id": frame["id"]})
            continue
        await ws.send_json({"type": "ack", "id": frame["id"], "duplicate": inbox_id is None})


def _parse(raw: str) -> tuple[dict[str, Any], str | None]:
    """A valid `message` frame, or the reason it is not one (in Russian, for the customer)."""
    if len(raw) > MAX_TEXT * 4:
        return {}, "Сообщение слишком длинное."
    try:
        frame = json.loads(raw)
    except ValueError:
        return {}, "Не удалось прочитать сообщение."
    if not isinstance(frame, dict) or frame.get("type") != "message":
        return {}, "Неизвестный тип сообщения."
    text, cid = frame.get("text"), frame.get("id")
    if not isinstance(text, str) or not text.strip():
        return {}, "Пустое сообщение."
    if len(text) > MAX_TEXT:
        return {}, f"Сообщение длиннее {MAX_TEXT} символов — сократите, пожалуйста."
    if not isinstance(cid, str) or not cid or len(cid) > MAX_ID:
        return {}, "У сообщения нет корректного идентификатора."
    return {"id": cid, "text": text.strip()}, None


async def _history(context: ChannelContext, key: str) -> list[dict[str, Any]]:
    async with context.db.session() as session:
        dialog = await DialogRepository(session).by_key(CHANNEL, key)
        if dialog is None or dialog.id is None:
            return []
        messages = await MessageRepository(session).recent(dialog.id, HISTORY)
    return [{"author": str(m.author), "text": m.text, "sources": m.meta.get("sources", []),
             # buttons only under the last message, as when it was sent (a carried-over form's consent)
             "quick_replies": list(m.meta.get("quick_replies", [])) if n == len(messages) - 1 else []}
            for n, m in enumerate(messages)]


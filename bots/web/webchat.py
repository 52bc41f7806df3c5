"""Routes of the web chat: the page and its WebSocket."""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bots.channels.webchat import CHANNEL, WebchatChannel
from bots.messages import InboundMessage
from bots.runtime import Runtime
from bots.web.guard import origin_allowed
from bots.web.templating import render
from store.repositories import DialogRepository, MessageRepository

COOKIE = "sovetnik_chat"
MAX_TEXT = 4000
MAX_ID = 64
RATE_WINDOW_S = 60
RATE_MAX = 30
HISTORY = 50


def routes(runtime: Runtime) -> list[Route | WebSocketRoute]:
    """The chat page at `/` and the socket at `/ws/chat`."""
    channel = runtime.channels.get(CHANNEL)

    async def page(request: Request) -> Response:
        response = render(request, "chat.html", {})
        if not _valid_key(request.cookies.get(COOKIE)):
            response.set_cookie(COOKIE, secrets.token_urlsafe(24), max_age=90 * 24 * 3600,
                                httponly=True, samesite="lax",
                                secure=runtime.settings.server.cookie_secure)
        return response

    async def socket(ws: WebSocket) -> None:
        key = ws.cookies.get(COOKIE)
        if not origin_allowed(runtime.settings.server, ws.headers):  # another site's page
            await ws.close(code=1008)
            return
        if not isinstance(channel, WebchatChannel) or not _valid_key(key):
            await ws.close(code=1008)
            return
        assert key is not None
        await ws.accept()
        await channel.connect(key, ws)
        try:
            await ws.send_json({"type": "history", "messages": await _history(runtime, key)})
            await _serve(runtime, ws, key)
        except WebSocketDisconnect:
            pass
        finally:
            await channel.disconnect(key, ws)

    return [Route("/", page), WebSocketRoute("/ws/chat", socket)]


async def _serve(runtime: Runtime, ws: WebSocket, key: str) -> None:
    recent: deque[float] = deque()
    while True:
        raw = await ws.receive_text()
        frame, problem = _parse(raw)
        if problem:
            await ws.send_json({"type": "error", "text": problem})
            continue
        now = time.monotonic()
        while recent and now - recent[0] > RATE_WINDOW_S:
            recent.popleft()
        if len(recent) >= RATE_MAX:
            await ws.send_json({"type": "error", "text": "Слишком много сообщений подряд. Подождите минуту."})
            continue
        recent.append(now)
        inbound = InboundMessage(channel=CHANNEL, external_update_id=f"{key}:{frame['id']}",
                                 external_message_id=frame["id"], dialog_key=key, user_ref=key,
                                 text=frame["text"])
        inbox_id = await runtime.engine.accept(inbound)
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


async def _history(runtime: Runtime, key: str) -> list[dict[str, Any]]:
    async with runtime.db.session() as session:
        dialog = await DialogRepository(session).by_key(CHANNEL, key)
        if dialog is None or dialog.id is None:
            return []
        messages = await MessageRepository(session).recent(dialog.id, HISTORY)
    return [{"author": str(m.author), "text": m.text, "sources": m.meta.get("sources", []),
             "quick_replies": []} for m in messages]


def _valid_key(key: str | None) -> bool:
    return bool(key) and 16 <= len(key or "") <= 64 and all(c.isalnum() or c in "-_" for c in key or "")

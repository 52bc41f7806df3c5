"""The managers' console: sign-in, the live queue, a dialog page and its actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from agents.summary import REASONS, summarize
from agents.turn import DialogState
from bots.handoff import HandoffError
from bots.runtime import Runtime
from bots.web.auth import LoginRefused, authenticate, end_sessions
from bots.web.guard import account, console, flash, page, posted, runtime_of, sign_in
from bots.web.labels import channel, lead_card, role
from bots.web.templating import render
from store.models import Dialog, DialogStatus, Message
from store.repositories import DialogRepository, MessageRepository
from store.types import utc_now

STATUS = {"bot": "у бота", "waiting": "ждёт менеджера", "manager": "у менеджера", "closed": "закрыт"}
AUTHOR = {"customer": "Клиент", "agent": "Бот", "manager": "Менеджер", "system": "Система"}


@console()
async def home(request: Request) -> Response:
    return RedirectResponse("/console/queue", status_code=303)


async def login_form(request: Request) -> Response:
    return render(request, "login.html", page(request, None))


async def login(request: Request) -> Response:
    form = await posted(request)
    if isinstance(form, Response):
        return form
    runtime = runtime_of(request)
    try:
        user = await authenticate(runtime.db, request.app.state.passwords, form.get("name", ""),
                                  form.get("password", ""))
    except LoginRefused as exc:
        return render(request, "login.html", page(request, None, error=str(exc)), status_code=401)
    sign_in(request, user)
    return RedirectResponse("/console/queue", status_code=303)


async def logout(request: Request) -> Response:
    form = await posted(request)
    if isinstance(form, Response):
        return form
    if request.user.is_authenticated:  # every copy of this cookie stops working too
        user_id = account(request).id
        assert user_id is not None
        await end_sessions(runtime_of(request).db, user_id)
    request.session.clear()
    return RedirectResponse("/console/login", status_code=303)


@console()
async def queue(request: Request) -> Response:
    return render(request, "queue.html", page(request, account(request)))


@console()
async def queue_api(request: Request) -> Response:
    return JSONResponse({"dialogs": await _queue(runtime_of(request))})


@console()
async def dialog_page(request: Request) -> Response:
    found = await _dialog(runtime_of(request), request.path_params["dialog_id"])
    if found is None:
        return Response("Диалог не найден", status_code=404)
    dialog, messages = found
    context = _dialog_context(dialog, messages, runtime_of(request))
    return render(request, "dialog.html", page(request, account(request), **context))


@console()
async def messages_api(request: Request) -> Response:
    found = await _dialog(runtime_of(request), request.path_params["dialog_id"])
    if found is None:
        return JSONResponse({"messages": []}, status_code=404)
    after = _int(request.query_params.get("after"), 0)
    return JSONResponse({"messages": [_message(m) for m in found[1] if (m.id or 0) > after]})


@console()
async def action(request: Request) -> Response:
    form = await posted(request)
    if isinstance(form, Response):
        return form
    dialog_id, verb = request.path_params["dialog_id"], request.path_params["verb"]
    try:
        await _act(runtime_of(request), verb, dialog_id, account(request).name, form.get("text", ""))
    except HandoffError as exc:
        flash(request, str(exc), error=True)
    return RedirectResponse(f"/console/dialogs/{dialog_id}", status_code=303)


def routes() -> list[Route]:
    """Console routes for managers (admins see them too)."""
    return [
        Route("/console", home),
        Route("/console/login", login_form, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/queue", queue),
        Route("/console/api/queue", queue_api),
        Route("/console/dialogs/{dialog_id:int}", dialog_page),
        Route("/console/api/dialogs/{dialog_id:int}/messages", messages_api),
        Route("/console/dialogs/{dialog_id:int}/{verb:str}", action, methods=["POST"]),
    ]


async def _act(runtime: Runtime, verb: str, dialog_id: int, manager: str, text: str) -> None:
    if verb == "reply":
        await runtime.handoff.reply(dialog_id, text[:4000], manager)
    elif verb == "take":
        await runtime.handoff.take(dialog_id, manager)
    elif verb == "back":
        await runtime.handoff.back_to_bot(dialog_id, manager)
    elif verb == "close":
        await runtime.handoff.close(dialog_id, manager)
    else:
        raise HandoffError("Неизвестное действие.")


async def _queue(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.db.session() as session:
        repo = DialogRepository(session)
        dialogs = [*await repo.list_by_status(DialogStatus.WAITING),
                   *await repo.list_by_status(DialogStatus.MANAGER)]
        out = []
        for d in dialogs:
            assert d.id is not None
            last = await MessageRepository(session).recent(d.id, 1)
            out.append({
                "id": d.id, "channel": channel(d.channel), "status": str(d.status),
                "complaint": d.handoff_reason == "complaint",
                "status_label": STATUS.get(str(d.status), str(d.status)),
                "reason": REASONS.get(d.handoff_reason or "", d.handoff_reason or "—"),
                "waiting": _ago(d.updated_at), "assigned": d.assigned_to,
                "last": (last[0].text[:120] if last else ""),
            })
    # Complaints first (a customer is upset), then the longest waiting; the sort is stable.
    return sorted(out, key=lambda row: not row["complaint"])


async def _dialog(runtime: Runtime, dialog_id: int) -> tuple[Dialog, list[Message]] | None:
    async with runtime.db.session() as session:
        dialog = await DialogRepository(session).get(dialog_id)
        if dialog is None:
            return None
        return dialog, await MessageRepository(session).all_for_dialog(dialog_id)


def _dialog_context(dialog: Dialog, messages: list[Message],
                    runtime: Runtime | None = None) -> dict[str, Any]:
    state = DialogState.from_json(dialog.state)
    roles = runtime.roles if runtime is not None else None
    # A handoff notice is not an answer: the summary shows what the agent actually said.
    pairs = [(str(m.author), m.text) for m in messages
             if not (str(m.author) == "agent" and m.meta.get("handoff"))]
    # The informative answers: those that stood on the knowledge base or a calculation.
    informative = [m.text for m in messages if str(m.author) == "agent" and not m.meta.get("handoff")
                   and (m.meta.get("sources") or m.meta.get("mode") in ("offline", "llm"))
                   and m.meta.get("grounded", True)]
    sources = dict.fromkeys(f"{s.get('source')} — {s.get('heading')}" for m in messages
                            for s in m.meta.get("sources", []) if isinstance(s, dict))
    return {"dialog": dialog, "status_label": STATUS.get(str(dialog.status), str(dialog.status)),
            "summary": summarize(pairs, state, dialog.handoff_reason, informative),
            "channel_label": channel(dialog.channel), "role_label": role(roles, dialog.role_id),
            "messages": [_message(m) for m in messages], "lead": lead_card(state.lead, roles),
            "sources": list(sources)}


def _message(m: Message) -> dict[str, Any]:
    voice = any(a.get("kind") in ("voice", "audio") for a in m.meta.get("attachments", []) or []
                if isinstance(a, dict))
    return {"id": m.id, "author": str(m.author), "author_label": AUTHOR.get(str(m.author), str(m.author)),
            "text": m.text, "time": m.created_at.strftime("%d.%m %H:%M"), "voice": voice}


def _ago(moment: datetime) -> str:
    seconds = int((utc_now() - moment).total_seconds())
    if seconds < 60:
        return f"{seconds} с"
    if seconds < 3600:
        return f"{seconds // 60} мин"
    return f"{seconds // 3600} ч {seconds % 3600 // 60} мин"


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw or default)
    except ValueError:
        return default

"""Who is signed in, and what they may see."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bots.runtime import Runtime
from bots.web.auth import csrf_ok, csrf_token
from bots.web.templating import render
from store.accounts import ConsoleRole, ConsoleUser, UserRepository


async def current_user(request: Request, runtime: Runtime) -> ConsoleUser | None:
    """The signed-in account, if the session names one that still exists."""
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    async with runtime.db.session() as session:
        return await UserRepository(session).get(uid)


async def require(request: Request, runtime: Runtime, *, admin: bool = False) -> ConsoleUser | Response:
    """The account, or the response to send instead (login redirect, 403 page)."""
    user = await current_user(request, runtime)
    if user is None:
        if request.url.path.startswith("/console/api/"):
            return Response("Требуется вход", status_code=401)
        return RedirectResponse("/console/login", status_code=303)
    if admin and user.role != ConsoleRole.ADMIN:
        return render(request, "forbidden.html", page(request, user), status_code=403)
    return user


async def posted(request: Request) -> dict[str, str] | Response:
    """A submitted form with a valid CSRF token, or a 403."""
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return Response("Форма устарела или подделана: обновите страницу и повторите.", status_code=403)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def page(request: Request, user: ConsoleUser | None, **extra: object) -> dict[str, object]:
    """The context every console template gets."""
    flash = request.session.pop("flash", None)
    flash_error = request.session.pop("flash_error", False)
    return {"user": user, "csrf": csrf_token(request), "flash": flash, "flash_error": flash_error,
            **extra}


def flash(request: Request, text: str, *, error: bool = False) -> None:
    """A one-time notice for the next page."""
    request.session["flash"] = text
    request.session["flash_error"] = error

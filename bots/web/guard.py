"""Who is signed in, what they may do, and where a browser request may come from.

- `ConsoleAuth` (for Starlette's `AuthenticationMiddleware`) reads the signed
  session cookie and finds its account; a cookie from before the account's last
  sign-out (an older `session_generation`) is worth nothing.
- `console(admin=...)` declares on each handler who may call it, so no handler
  has to remember a check.
- `origin_allowed` tells whether a request's ``Origin`` is one of the server's
  public origins (the WebSocket of the web chat and every state-changing request).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from bots.config import ServerSettings
from bots.runtime import Runtime
from bots.web.auth import csrf_ok, csrf_token
from bots.web.templating import render
from store.accounts import ConsoleRole, ConsoleUser, UserRepository

Handler = Callable[[Request], Awaitable[Response]]
MANAGER_SCOPE, ADMIN_SCOPE = "console", "admin"


class ConsoleAccount(BaseUser):
    """A signed-in console account, as `request.user`."""

    def __init__(self, account: ConsoleUser) -> None:
        self.account = account

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.account.name


class ConsoleAuth(AuthenticationBackend):
    """Finds the account a console session cookie names (only under `/console`)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if not conn.url.path.startswith("/console"):
            return None
        uid, generation = conn.session.get("uid"), conn.session.get("gen")
        if not isinstance(uid, int) or not isinstance(generation, int):
            return None
        async with self.runtime.db.session() as session:
            user = await UserRepository(session).get(uid)
        if user is None or user.session_generation != generation:
            return None  # signed out since (here or on another device), or deleted
        scopes = [MANAGER_SCOPE] + ([ADMIN_SCOPE] if user.role == ConsoleRole.ADMIN else [])
        return AuthCredentials(scopes), ConsoleAccount(user)


def sign_in(request: Request, user: ConsoleUser) -> None:
    """Start a fresh session for the account (a new CSRF token too)."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["gen"] = user.session_generation


def account(request: Request) -> ConsoleUser:
    """The signed-in account of a request that `console` let through."""
    user = request.user
    assert isinstance(user, ConsoleAccount)
    return user.account


def runtime_of(request: Request) -> Runtime:
    """The runtime the app serves."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def console(*, admin: bool = False) -> Callable[[Handler], Handler]:
    """Let only signed-in accounts (only admins, with ``admin``) reach the handler.

    Others get the sign-in page (a 401 for `/console/api/`), or a 403 page when
    a manager opens an admin page.
    """
    needed = ADMIN_SCOPE if admin else MANAGER_SCOPE

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if MANAGER_SCOPE not in request.auth.scopes:
                if request.url.path.startswith("/console/api/"):
                    return Response("Требуется вход", status_code=401)
                return RedirectResponse("/console/login", status_code=303)
            if needed not in request.auth.scopes:
                return render(request, "forbidden.html", page(request, account(request)),
                              status_code=403)
            return await handler(request)

        return guarded

    return wrap


def allowed_origins(server: ServerSettings, host_header: str | None) -> set[str]:
    """The configured public origins; without any, the server's own address and Host."""
    if server.public_origins:
        return {o.rstrip("/").lower() for o in server.public_origins}
    own = {f"http://{server.host}:{server.port}".lower()}
    if host_header:
        own |= {f"http://{host_header}".lower(), f"https://{host_header}".lower()}
    return own


def origin_allowed(server: ServerSettings, headers: Headers) -> bool:
    """Whether a browser's request comes from a public origin (no ``Origin``: not a browser's)."""
    origin = headers.get("origin")
    if origin is None:
        return True  # browsers always send it on these requests; a CSRF token still guards forms
    return origin.rstrip("/").lower() in allowed_origins(server, headers.get("host"))


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

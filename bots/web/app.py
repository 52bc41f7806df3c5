"""The Starlette app that `sovetnik serve` runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bots.runtime import Runtime
from bots.web import admin, console, contacts, dashboard
from bots.web.admin import MAX_TEXT, MAX_UPLOAD
from bots.web.auth import PasswordChecker, session_secret
from bots.web.guard import ConsoleAuth
from bots.web.limits import BodyLimit, BodyLimitMiddleware
from bots.web.metrics import metrics_text
from bots.web.middleware import OriginCheck, SecurityHeaders
from bots.web.templating import STATIC_DIR

log = logging.getLogger(__name__)

#: Body limits per route (channels add their own); everything else gets `DEFAULT_BODY_BYTES`.
#: Form fields of Cyrillic text are percent-encoded: up to 6 bytes per character.
BODY_LIMITS = (
    BodyLimit("/console/login", 16 * 1024),
    BodyLimit("/console/admin/knowledge/upload", MAX_UPLOAD + 64 * 1024),
    BodyLimit("/console/admin/knowledge/edit", MAX_TEXT * 6 + 64 * 1024),
    BodyLimit("/console/admin/roles", MAX_TEXT * 6 + 64 * 1024),
)
DEFAULT_BODY_BYTES = 64 * 1024


def create_app(runtime: Runtime) -> Starlette:
    """The app around one runtime; the runtime starts and stops with it."""

    passwords = PasswordChecker(runtime.settings.server.login_workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            passwords.close()

    async def healthz(request: Request) -> Response:
        try:
            await runtime.db.ping()
        except Exception as exc:
            return JSONResponse({"status": "error", "store": exc.__class__.__name__}, status_code=503)
        return JSONResponse({"status": "ok", "channels": sorted(runtime.channels)})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(await metrics_text(runtime),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    routes: list[BaseRoute] = [
        *(route for channel in runtime.channels.values() for route in channel.routes()),
        *console.routes(),
        *contacts.routes(),
        *admin.routes(),
        *dashboard.routes(),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=_middleware(runtime))
    app.state.runtime = runtime
    app.state.passwords = passwords
    app.state.knowledge = admin.knowledge_for(runtime)
    return app


def body_limits(runtime: Runtime) -> tuple[BodyLimit, ...]:
    """The app's own body limits and those of every channel's routes."""
    own = tuple(BODY_LIMITS)
    channels = tuple(BodyLimit(path, size) for channel in runtime.channels.values()
                     for path, size in channel.body_limits().items())
    return channels + own


def _middleware(runtime: Runtime) -> list[Middleware]:
    """Outermost first: body sizes (before anything reads), headers, foreign origins, the session."""
    settings = runtime.settings
    server = settings.server
    key = server.secret_key.get_secret_value() if server.secret_key else None
    secret = session_secret(key, settings.path(Path("var")))
    return [
        Middleware(BodyLimitMiddleware, limits=body_limits(runtime), default_bytes=DEFAULT_BODY_BYTES),
        Middleware(SecurityHeaders),
        Middleware(OriginCheck, server=server),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="sovetnik_console",
                   max_age=12 * 3600, same_site=server.cookie_samesite, https_only=server.cookie_secure),
        Middleware(AuthenticationMiddleware, backend=ConsoleAuth(runtime)),
    ]
